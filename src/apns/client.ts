import crypto from 'node:crypto';
import fs from 'node:fs';
import apn from '@parse/node-apn';
import type { SigningIdentity } from '../certs/identity';
import { ConfigError, type ApnsConfig } from '../config/load';
import type { ApnsResult } from './outcomes';
import { createSemaphore } from './semaphore';

/** One Safari notification, ready to go to many devices. */
export interface ApnsMessage {
  topic: string;
  payload: object;
  /** Unix seconds; 0 = deliver once or drop. */
  expiration?: number;
  priority: 5 | 10;
  collapseId?: string;
}

export interface ApnsClient {
  /** Sends to one device; never throws for APNs or network failures, it returns them typed. */
  send(token: string, message: PreparedMessage): Promise<ApnsResult>;
  prepare(message: ApnsMessage): PreparedMessage;
  close(): Promise<void>;
  /** Requests handed to the client and not answered yet (on the wire, or waiting for a stream). */
  readonly inFlight: number;
}

/** A message compiled once, sent to every device of a notification; only the client that prepared it can send it. */
export interface PreparedMessage {
  readonly message: ApnsMessage;
}

/** A notification as node-apn writes it: its headers and its compiled JSON body. */
interface BuiltNotification {
  headers: Record<string, unknown>;
  body: string;
}

/** This client's prepared message: built once by node-apn, written to each device. */
interface NodeApnMessage extends PreparedMessage {
  readonly built: BuiltNotification;
}

/**
 * The round-robin pool of HTTP/2 clients inside node-apn's MultiProvider. MultiProvider.send()
 * rebuilds the headers and wraps every call in Promise.allSettled; a message sent to a million
 * devices needs its headers built once, so the sender writes through the pool with the message
 * built in prepare(). Checked when the client is created: a node-apn without it fails at start.
 */
interface NodeApnPool {
  write(notification: BuiltNotification, token: string, type: 'device', method: 'post'): Promise<NodeApnFailure>;
}

/** node-apn's Notification methods that build what its Provider sends (not in its type definitions). */
interface NotificationInternals {
  headers(): Record<string, unknown>;
  compile(): string;
}

interface NodeApnFailure {
  status?: number | string;
  response?: { reason?: string; timestamp?: number };
  error?: Error;
}

const OK: ApnsResult = Object.freeze({ ok: true });

function toResult(failure: NodeApnFailure): ApnsResult {
  const status = typeof failure.status === 'number' ? failure.status : null;
  const reason = failure.response?.reason ?? failure.error?.message ?? 'UnknownError';
  return { ok: false, status, reason, ...(failure.response?.timestamp !== undefined ? { timestamp: Number(failure.response.timestamp) } : {}) };
}

function credentials(config: ApnsConfig, identity: SigningIdentity): Partial<apn.ProviderOptions> {
  if (config.auth.kind === 'token') {
    let key: Buffer;
    try {
      key = fs.readFileSync(config.auth.keyFile);
      const parsed = crypto.createPrivateKey(key);
      // APNs provider tokens are ES256: a P-256 key, as Apple issues them.
      if (parsed.asymmetricKeyType !== 'ec' || parsed.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not a P-256 EC key');
    } catch (error) {
      throw new ConfigError(`APNS_KEY_FILE: ${config.auth.keyFile} is not a readable .p8 EC private key (${(error as Error).message})`);
    }
    return { token: { key, keyId: config.auth.keyId, teamId: config.auth.teamId } };
  }
  return { cert: identity.certificatePem, key: identity.privateKeyPem };
}

/**
 * APNs over HTTP/2 through @parse/node-apn: `connections` long-lived sessions used round-robin,
 * and at most `connections × streamsPerConnection` requests in flight, so a large send never
 * opens more streams than APNs accepts. node-apn's own retries are off: the sender retries with
 * backoff and records every attempt.
 */
export function createApnsClient(config: ApnsConfig, identity: SigningIdentity): ApnsClient {
  let provider: apn.MultiProvider;
  try {
    provider = new apn.MultiProvider({
      ...credentials(config, identity),
      address: config.host,
      port: config.port,
      production: true,
      clientCount: config.connections,
      connectionRetryLimit: 0,
      requestTimeout: config.requestTimeoutMs,
    } as apn.MultiProviderOptions);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`APNs credentials were refused by node-apn: ${(error as Error).message}`);
  }
  const found = (provider as unknown as { client?: Partial<NodeApnPool> }).client;
  if (typeof found?.write !== 'function') throw new Error('@parse/node-apn: MultiProvider has no client pool with write(); this version is not supported');
  const pool = found as NodeApnPool;
  const window = createSemaphore(config.connections * config.streamsPerConnection);

  return {
    prepare(message) {
      const note = new apn.Notification();
      note.topic = message.topic;
      note.pushType = 'alert';
      note.priority = message.priority;
      if (message.expiration !== undefined) note.expiry = message.expiration;
      if (message.collapseId !== undefined) note.collapseId = message.collapseId;
      note.rawPayload = message.payload;
      const internals = note as unknown as NotificationInternals;
      return { message, built: { headers: internals.headers(), body: internals.compile() } } satisfies NodeApnMessage;
    },
    send(token, prepared) {
      const { built } = prepared as NodeApnMessage;
      // The hot path of every send: one promise chain, no async wrappers. Like MultiProvider.send,
      // an answer that carries a status or an error is a failure.
      return window.run(() =>
        pool.write(built, token, 'device', 'post').then(
          (answer) => (answer.status || answer.error ? toResult(answer) : OK),
          (failure: unknown) => toResult(failure instanceof Error ? { error: failure } : (failure as NodeApnFailure)),
        ),
      );
    },
    async close() {
      await provider.shutdown();
    },
    get inFlight() {
      return window.active + window.waiting;
    },
  };
}
