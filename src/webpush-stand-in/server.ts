import crypto from 'node:crypto';
import type http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createSubscriptionKeys, decryptPushMessage } from './decrypt';
import { verifyVapid } from './vapid';

/** Where and with which TLS identity the stand-in listens. */
export interface PushStandInOptions {
  tls: { key: string | Buffer; cert: string | Buffer };
  /** Also the host of `origin`, so of every endpoint and of the VAPID audience. Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /**
   * What it offers in ALPN: HTTP/2 and HTTP/1.1 (the default, as FCM, autopush and Apple's push
   * service do), or HTTP/1.1 only.
   */
  protocols?: Array<'h2' | 'http/1.1'>;
  /**
   * For load tests: accept every push to `/push/<any id>` after checking VAPID (each distinct
   * header verified once) and the headers, without decrypting or recording it; `accepted` counts them.
   */
  lean?: boolean;
}

/** One answer to give instead of 201, exactly as written (a 201 without Location gets one). */
export type ScriptedAnswer = { status: number; headers?: Record<string, string>; body?: string };

/** A subscription as `pushManager.subscribe()` hands it to the page, with an id to refer to it by. */
export interface StandInSubscription {
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** One request that reached a known subscription, and how the stand-in answered it. */
export interface ReceivedPush {
  subscriptionId: string;
  endpoint: string;
  /** Decrypted payload as UTF-8 (undefined when the request had no body). */
  payload?: string;
  /** The TTL header; -1 when it was missing or not a non-negative integer. */
  ttl: number;
  urgency?: string;
  topic?: string;
  /** The verified VAPID identity; empty strings and 0 when the request was answered before it verified. */
  vapid: { subject: string; audience: string; publicKey: string; expiresAt: number };
  /** The status the stand-in answered. */
  status: number;
  /** `2.0` or `1.1`. */
  httpVersion: string;
  receivedAt: number;
}

/** A running stand-in for a Web Push push service (RFC 8030), and the controls tests need. */
export interface PushStandIn {
  /** e.g. https://127.0.0.1:41234 */
  readonly origin: string;
  readonly port: number;
  /** Creates a subscription as a browser would get from pushManager.subscribe(): endpoint `${origin}/push/<id>` and fresh keys. */
  subscribe(): StandInSubscription;
  /** Answers for the next requests to this subscription, in order; afterwards 201 again. Replaces answers still queued; throws for an unknown id. */
  script(subscriptionId: string, answers: ScriptedAnswer[]): void;
  /** From now on the subscription answers 410 Gone (the user unsubscribed). Throws for an unknown id. */
  expire(subscriptionId: string): void;
  /** Every request that reached a known subscription (accepted or not), oldest first. */
  readonly received: ReceivedPush[];
  /** Resolves when `count` pushes with status 201 have been received in total (rejects after timeoutMs, default 10 s), with every push answered 201 so far. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedPush[]>;
  /**
   * After `count` more pushes have been answered, the HTTP/2 connection that carried the last of
   * them is closed gracefully: GOAWAY, streams already received are answered, later ones refused
   * (RFC 9113 §6.8). Repeats every `count` pushes while `repeat` is true; 0 stops.
   */
  goAwayAfter(count: number, repeat?: boolean): void;
  /** TLS connections accepted so far. */
  readonly connections: number;
  /** GOAWAY frames sent so far. */
  readonly goAways: number;
  /** Pushes answered 201 (also in lean mode, which records nothing else). */
  readonly accepted: number;
  close(): Promise<void>;
}

interface Entry {
  subscription: StandInSubscription;
  privateKey: Buffer;
  expired: boolean;
  answers: ScriptedAnswer[];
}

// RFC 8030 §7.2 asks push services to take at least 4096 bytes of body; FCM and autopush take no more.
const MAX_BODY_BYTES = 4096;
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);
// RFC 8030 §5.4: a topic is at most 32 characters of the URL- and filename-safe base64 alphabet.
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
const PUSH_PATH = /^\/push\/([A-Za-z0-9_-]+)$/;
const NO_VAPID = { subject: '', audience: '', publicKey: '', expiresAt: 0 };

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Reads the whole body but keeps it only while it is small enough to be accepted. */
function readBody(req: http.IncomingMessage): Promise<{ body: Buffer; size: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), size }));
    req.on('error', reject);
  });
}

function refuse(status: number, body: string, headers?: Record<string, string>): ScriptedAnswer {
  return { status, body, headers };
}

/** Runs the push service's checks in the documented order and returns the first refusal, filling `record` as it goes. */
function check(entry: Entry, req: http.IncomingMessage, body: Buffer, size: number, record: ReceivedPush, origin: string): ScriptedAnswer | undefined {
  if (entry.expired) return refuse(410, 'subscription has expired or the user unsubscribed');
  const vapid = verifyVapid(header(req, 'authorization'), origin);
  if (!vapid.ok) {
    // RFC 9110 §15.5.2: a 401 names the scheme the client should use.
    return refuse(vapid.problem.status, vapid.problem.message, vapid.problem.status === 401 ? { 'WWW-Authenticate': 'vapid' } : undefined);
  }
  record.vapid = vapid.identity;
  if (record.ttl < 0) return refuse(400, 'TTL header missing or not a non-negative integer');
  if (record.urgency !== undefined && !URGENCIES.has(record.urgency)) return refuse(400, 'Urgency must be very-low, low, normal or high');
  if (record.topic !== undefined && !TOPIC.test(record.topic)) return refuse(400, 'Topic must be 1 to 32 base64url characters');
  if (size > MAX_BODY_BYTES) return refuse(413, `body is ${size} bytes, more than ${MAX_BODY_BYTES}`);
  if (size === 0) return undefined;
  const encoding = header(req, 'content-encoding')?.trim().toLowerCase();
  if (encoding !== 'aes128gcm') return refuse(400, `Content-Encoding must be aes128gcm, not ${encoding ?? 'absent'}`);
  try {
    record.payload = decryptPushMessage(body, { privateKey: entry.privateKey, auth: entry.subscription.keys.auth }).toString('utf8');
  } catch (error) {
    return refuse(400, `cannot decrypt body: ${(error as Error).message}`);
  }
  return undefined;
}

function send(res: http.ServerResponse, answer: ScriptedAnswer): void {
  const body = answer.body ?? '';
  res.writeHead(answer.status, { ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}), ...answer.headers });
  res.end(body);
}

/**
 * A small HTTPS server that plays a Web Push push service (FCM, autopush, ...) for one or more
 * fake browser subscriptions: it authenticates VAPID, validates RFC 8030 headers, decrypts the
 * RFC 8291 payload with the subscription's private key and records what it got, so a test can
 * assert on exactly what a user's browser would have been handed.
 */
export async function startPushStandIn(options: PushStandInOptions): Promise<PushStandIn> {
  const host = options.host ?? '127.0.0.1';
  const subscriptions = new Map<string, Entry>();
  const received: ReceivedPush[] = [];
  const waiters = new Set<{ check(): unknown; fail(error: Error): unknown }>();
  let origin = '';

  let acceptedCount = 0;
  let goAways = 0;
  let goAway: { left: number; every: number; repeat: boolean } | undefined;
  const verified = new Map<string, boolean>();
  /** Counts an answered push toward a scheduled GOAWAY, and sends it when due. */
  const answeredOn = (req: http.IncomingMessage) => {
    if (!goAway || --goAway.left > 0) return;
    goAway = goAway.repeat ? { ...goAway, left: goAway.every } : undefined;
    const session = (req as unknown as { stream?: http2.ServerHttp2Stream }).stream?.session;
    if (session && !session.closed) {
      goAways++;
      session.close();
    }
  };
  /** Lean mode: the checks that cost little, VAPID once per distinct header. */
  const handleLean = (req: http.IncomingMessage, res: http.ServerResponse, size: number): void => {
    if (!PUSH_PATH.test((req.url ?? '').split('?')[0]) || req.method !== 'POST') return send(res, refuse(404, 'no such path'));
    const authorization = header(req, 'authorization') ?? '';
    let ok = verified.get(authorization);
    if (ok === undefined) {
      ok = verifyVapid(authorization, origin).ok;
      if (verified.size > 10_000) verified.clear();
      verified.set(authorization, ok);
    }
    if (!ok) return send(res, refuse(401, 'VAPID did not verify', { 'WWW-Authenticate': 'vapid' }));
    if (!/^\d+$/.test(header(req, 'ttl') ?? '') || header(req, 'content-encoding') !== 'aes128gcm' || size === 0 || size > MAX_BODY_BYTES) return send(res, refuse(400, 'bad headers or body'));
    acceptedCount++;
    send(res, { status: 201, headers: { Location: `${origin}/message/lean` } });
    answeredOn(req);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // Read first so every answer leaves the keep-alive connection clean for the next request.
    const { body, size } = await readBody(req);
    if (options.lean) return handleLean(req, res, size);
    const id = PUSH_PATH.exec((req.url ?? '').split('?')[0])?.[1];
    if (id === undefined) return send(res, refuse(404, 'no such path'));
    if (req.method !== 'POST') return send(res, refuse(405, 'push messages are POSTed', { Allow: 'POST' }));
    const entry = subscriptions.get(id);
    if (!entry) return send(res, refuse(404, 'no such subscription'));

    const ttl = header(req, 'ttl')?.trim();
    const record: ReceivedPush = {
      subscriptionId: id,
      endpoint: entry.subscription.endpoint,
      ttl: ttl !== undefined && /^\d+$/.test(ttl) && Number.isSafeInteger(Number(ttl)) ? Number(ttl) : -1,
      urgency: header(req, 'urgency'),
      topic: header(req, 'topic'),
      vapid: { ...NO_VAPID },
      status: 0,
      httpVersion: req.httpVersion,
      receivedAt: Date.now(),
    };
    const answer: ScriptedAnswer = check(entry, req, body, size, record, origin) ?? entry.answers.shift() ?? { status: 201 };
    // RFC 8030 §5: an accepted message gets a Location naming the push message resource.
    const headers: Record<string, string> = { ...answer.headers };
    if (answer.status === 201 && !Object.keys(headers).some((name) => name.toLowerCase() === 'location')) {
      headers.Location = `${origin}/message/${crypto.randomUUID()}`;
    }
    record.status = answer.status;
    if (answer.status === 201) acceptedCount++;
    received.push(record);
    send(res, { ...answer, headers });
    answeredOn(req);
    for (const waiter of [...waiters]) waiter.check();
  };

  const protocols = options.protocols ?? ['h2', 'http/1.1'];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch(() => res.destroy());
  };
  const server: net.Server = protocols.includes('h2')
    ? http2.createSecureServer(
        { key: options.tls.key, cert: options.tls.cert, allowHTTP1: protocols.includes('http/1.1'), settings: { maxConcurrentStreams: 1000 } },
        onRequest as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
      )
    : https.createServer({ key: options.tls.key, cert: options.tls.cert }, onRequest);
  // Every connection, so close() can end them (senders keep them alive).
  const sockets = new Set<net.Socket>();
  let connections = 0;
  server.on('secureConnection', (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  origin = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const known = (subscriptionId: string): Entry => {
    const entry = subscriptions.get(subscriptionId);
    if (!entry) throw new Error(`no subscription ${subscriptionId} on this push stand-in`);
    return entry;
  };
  const accepted = () => received.filter((push) => push.status === 201);

  return {
    origin,
    port,
    received,
    subscribe() {
      const id = crypto.randomBytes(16).toString('base64url');
      const { p256dh, auth, privateKey } = createSubscriptionKeys();
      const subscription = { id, endpoint: `${origin}/push/${id}`, keys: { p256dh, auth } };
      subscriptions.set(id, { subscription, privateKey, expired: false, answers: [] });
      return { ...subscription, keys: { ...subscription.keys } };
    },
    script(subscriptionId, answers) {
      known(subscriptionId).answers = [...answers];
    },
    expire(subscriptionId) {
      known(subscriptionId).expired = true;
    },
    waitFor(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const settle = (finish: () => void): void => {
          waiters.delete(waiter);
          clearTimeout(timer);
          finish();
        };
        const waiter = {
          check: () => accepted().length >= count && settle(() => resolve(accepted())),
          fail: (error: Error) => settle(() => reject(error)),
        };
        const timer = setTimeout(() => waiter.fail(new Error(`waitFor(${count}): ${accepted().length} pushes accepted after ${timeoutMs} ms`)), timeoutMs);
        waiters.add(waiter);
        waiter.check();
      });
    },
    goAwayAfter(count, repeat = false) {
      goAway = count > 0 ? { left: count, every: count, repeat } : undefined;
    },
    get connections() {
      return connections;
    },
    get goAways() {
      return goAways;
    },
    get accepted() {
      return acceptedCount;
    },
    async close() {
      for (const waiter of [...waiters]) waiter.fail(new Error('push stand-in closed'));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Senders keep connections alive; without this close() would wait for them to time out.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
