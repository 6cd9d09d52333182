import crypto from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import apn from '@parse/node-apn';
import type { SigningIdentity } from '../certs/identity';
import { ConfigError } from '../config/error';
import type { ApnsConfig } from '../config/load';
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
  /**
   * Sends to one device; never throws for APNs or network failures, it returns them typed.
   * `body`, when given, is this device's own JSON payload (personalized, or with its own click
   * link), sent with the headers the message prepared once: its topic, priority, expiry and
   * collapse id.
   */
  send(token: string, message: PreparedMessage, body?: string): Promise<ApnsResult>;
  prepare(message: ApnsMessage): PreparedMessage;
  close(): Promise<void>;
  /** Requests handed to the client and not answered yet (on the wire, or waiting for a stream). */
  readonly inFlight: number;
}

/** A message compiled once, sent to every device of a notification; only the client that prepared it can send it. */
export interface PreparedMessage {
  readonly message: ApnsMessage;
}

/** A message as this client writes it: the request headers every device shares, and the JSON body. */
interface NodeApnMessage extends PreparedMessage {
  readonly headers: http2.OutgoingHttpHeaders;
  readonly body: string;
}

/** node-apn's Notification methods that build what its Provider sends (not in its type definitions). */
interface NotificationInternals {
  headers(): Record<string, string | number>;
  compile(): string;
}

/** node-apn's provider token: ES256, signed again when it gets old or APNs calls it expired. */
interface NodeApnToken {
  readonly current: string;
  readonly generation: number;
  isExpired(validSeconds: number): boolean;
  regenerate(generation: number): void;
}

/**
 * One of node-apn's HTTP/2 clients (the round-robin pool inside MultiProvider), as far as this
 * client uses it: node-apn opens, pings and closes the session, and keeps the provider token; the
 * requests themselves are written here (see createApnsClient). Checked when the client is created.
 */
interface NodeApnConnection {
  session?: http2.ClientHttp2Session;
  isDestroyed: boolean;
  connect(): Promise<void>;
  config: { address: string; token?: NodeApnToken };
}

/** node-apn signs a new provider token when the current one is this old (it lives an hour at APNs). */
const TOKEN_REFRESH_SECONDS = 3300;
const STATUS = http2.constants.HTTP2_HEADER_STATUS;
const OK: ApnsResult = Object.freeze({ ok: true });

function noAnswer(reason: string): ApnsResult {
  return { ok: false, status: null, reason };
}

/** APNs' failure body: {"reason": "...", "timestamp": ms} (timestamp with 410 only). */
function failure(status: number, body: string): ApnsResult {
  let parsed: { reason?: unknown; timestamp?: unknown } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // an answer without a JSON body keeps its status; the reason says what came
  }
  const reason = typeof parsed.reason === 'string' ? parsed.reason : `HTTP ${status}${body ? `: ${body.slice(0, 100)}` : ''}`;
  const timestamp = Number(parsed.timestamp);
  return { ok: false, status, reason, ...(parsed.timestamp !== undefined && Number.isFinite(timestamp) ? { timestamp } : {}) };
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

function isNodeApnConnection(candidate: unknown): candidate is NodeApnConnection {
  const connection = candidate as Partial<NodeApnConnection> | null;
  return typeof connection?.connect === 'function' && typeof connection.config?.address === 'string' && typeof connection.isDestroyed === 'boolean';
}

/**
 * APNs over HTTP/2 with @parse/node-apn: `connections` long-lived sessions used round-robin, and at
 * most `connections × streamsPerConnection` requests in flight, so a large send never opens more
 * streams than APNs accepts. node-apn's own retries are off: the sender retries with backoff and
 * records every attempt.
 *
 * node-apn opens the sessions (TLS, certificate or provider token), pings them, replaces one that
 * closed, and signs the provider token. The request itself is written here, on node-apn's session:
 * node-apn's write() costs more than the request it sends (an async chain per device, the body and
 * its end as two DATA frames, seven listeners), and a broadcast makes millions of them.
 */
export function createApnsClient(config: ApnsConfig, identity: SigningIdentity): ApnsClient {
  if (config.connections < 1 || config.streamsPerConnection < 1) throw new ConfigError('APNs needs at least one connection with at least one stream');
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
  const found = (provider as unknown as { client?: { clients?: unknown } }).client?.clients;
  if (!Array.isArray(found) || found.length === 0 || !found.every(isNodeApnConnection)) {
    throw new Error('@parse/node-apn: MultiProvider has no pool of clients with connect() and a session; this version is not supported');
  }
  const connections: NodeApnConnection[] = found;
  const window = createSemaphore(config.connections * config.streamsPerConnection);
  const timeoutMs = config.requestTimeoutMs;
  let next = 0;

  /** One request on a session: headers, then the body with END_STREAM in one DATA frame. Never rejects. */
  function write(connection: NodeApnConnection, session: http2.ClientHttp2Session, token: string, message: NodeApnMessage, body: string): Promise<ApnsResult> {
    const headers: http2.OutgoingHttpHeaders = { ...message.headers, ':path': `/3/device/${token}` };
    const providerToken = connection.config.token;
    let generation = 0;
    if (providerToken) {
      if (providerToken.isExpired(TOKEN_REFRESH_SECONDS)) providerToken.regenerate(providerToken.generation);
      headers.authorization = `bearer ${providerToken.current}`;
      generation = providerToken.generation;
    }
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers);
      } catch (error) {
        resolve(noAnswer(`APNs request failed: ${(error as Error).message}`));
        return;
      }
      let status = 0;
      let problem = '';
      const answer: Buffer[] = [];
      stream.on('response', (received) => {
        status = Number(received[STATUS]);
      });
      // APNs answers 200 with no body; a failure's body is a small JSON reason.
      stream.on('data', (chunk: Buffer) => answer.push(chunk));
      stream.on('error', (error) => {
        problem = error.message;
      });
      stream.setTimeout(timeoutMs, () => {
        problem = `no answer from APNs within ${timeoutMs} ms`;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      stream.on('close', () => {
        if (status === 200) return resolve(OK);
        if (status === 0) return resolve(noAnswer(problem || `APNs closed the stream without an answer (code ${stream.rstCode})`));
        const result = failure(status, Buffer.concat(answer).toString('utf8'));
        // As node-apn does: a token APNs calls expired is signed again for the requests after this one.
        if (providerToken && !result.ok && result.reason === 'ExpiredProviderToken') providerToken.regenerate(generation);
        resolve(result);
      });
      stream.end(body);
    });
  }

  function send(token: string, message: NodeApnMessage, body: string): Promise<ApnsResult> {
    const connection = connections[next];
    next = (next + 1) % connections.length;
    if (connection.isDestroyed) return Promise.resolve(noAnswer('the APNs client is closed'));
    const session = connection.session;
    if (session && !session.closed && !session.destroyed) return write(connection, session, token, message, body);
    // No session yet, or node-apn dropped a closed one: it opens a new one (a failed connect
    // then fails the stream, which answers as no answer).
    return connection.connect().then(
      () => {
        const opened = connection.session;
        return opened && !opened.closed && !opened.destroyed ? write(connection, opened, token, message, body) : noAnswer('APNs connection closed before the request');
      },
      (error: unknown) => noAnswer(`APNs connection failed: ${(error as Error)?.message ?? String(error)}`),
    );
  }

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
      const headers: http2.OutgoingHttpHeaders = {
        ':scheme': 'https',
        ':method': 'POST',
        ':authority': connections[0].config.address,
        ...internals.headers(),
      };
      return { message, headers, body: internals.compile() } satisfies NodeApnMessage;
    },
    send(token, prepared, body) {
      const message = prepared as NodeApnMessage;
      return window.run(() => send(token, message, body ?? message.body));
    },
    async close() {
      await provider.shutdown();
    },
    get inFlight() {
      return window.active + window.waiting;
    },
  };
}
