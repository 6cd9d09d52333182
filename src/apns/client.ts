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
  /** Requests sent and not yet answered. */
  readonly inFlight: number;
}

/** A message compiled once by node-apn, sent to every device of a notification. */
export type PreparedMessage = apn.Notification;

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
      return note;
    },
    send(token, note) {
      // The hot path of every send: one promise chain, no async wrappers.
      return window.run(() =>
        provider.send(note, token).then(
          ({ failed }) => (failed.length === 0 ? OK : toResult(failed[0] as NodeApnFailure)),
          (error: unknown) => toResult({ error: error as Error }),
        ),
      );
    },
    async close() {
      await provider.shutdown();
    },
    get inFlight() {
      return window.active;
    },
  };
}
