import type net from 'node:net';
import webpush from 'web-push';
import { createSemaphore } from '../apns/semaphore';
import type { Logger } from '../logger';
import { EncryptionError } from './encrypt';
import { createEncryptPool, type EncryptPool } from './encrypt-pool';
import type { PushSubscription } from '../devices/repository';
import type { WebPushResult } from './outcomes';
import type { PushTarget } from './endpoint';
import { publicOnlyLookup } from './public-lookup';
import { createPushTransport, type Protocol, type PushAnswer } from './transport';
import type { VapidKeys } from './vapid-keys';

/** One encrypted push to one subscription (RFC 8030 headers). */
export interface WebPushMessage {
  payload: string;
  /** Seconds the push service keeps the message for an offline browser; 0 = now or never. */
  ttl: number;
  urgency: 'very-low' | 'low' | 'normal' | 'high';
  /** Replaces an undelivered message with the same topic (at most 32 base64url characters). */
  topic?: string;
}

export interface WebPushClient {
  /**
   * Sends to one subscription at the target its endpoint policy approved; never throws for push
   * service or network failures, it returns them typed.
   */
  send(target: PushTarget, keys: PushSubscription['keys'], message: WebPushMessage): Promise<WebPushResult>;
  /** Requests sent and not yet answered. */
  readonly inFlight: number;
  /** Encryption threads running now. */
  readonly threads: number;
  /** What a push service origin was found to speak (after the first connection). */
  protocolOf(target: PushTarget): Protocol | undefined;
  /** Closes connections and the encryption threads (shutdown). */
  close(): Promise<void>;
}

const OK: WebPushResult = Object.freeze({ ok: true });
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
// A VAPID JWT may live 24 h (RFC 8292 §2); one per push service origin, renewed well before it ends.
const VAPID_LIFETIME_S = 12 * 60 * 60;
const VAPID_RENEW_MS = 6 * 60 * 60 * 1000;

/** `Retry-After` in seconds or as an HTTP date, in ms from now. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

/** What a push service's refusal becomes: status, a short reason from its body, Retry-After. */
function refusal({ status, body, headers }: PushAnswer): WebPushResult {
  const text = body.trim().slice(0, 160);
  const after = retryAfterMs(typeof headers['retry-after'] === 'string' ? headers['retry-after'] : undefined);
  return { ok: false, status, reason: `${status}${text ? ` ${text}` : ''}`, ...(after !== undefined ? { retryAfterMs: after } : {}) };
}

/**
 * Answers that ask the sender to slow down: 429 (RFC 8030 §8.4), 503, and WNS's 406 ("throttled").
 * Each halves the origin's window; one with Retry-After also pauses the origin for that long.
 */
const THROTTLED = new Set([429, 406, 503]);
const MAX_PAUSE_MS = 60_000;
/** Without a Retry-After, a throttled subscription is tried again after at least this long. */
const THROTTLE_RETRY_MS = 1000;
const MAX_ORIGIN_STATES = 1000;

/**
 * What the client keeps per push service origin. Its share of the window, additive increase and
 * multiplicative decrease: a throttle answer halves it (down to one request at a time), every
 * answer that is not one grows it back by one request per window's worth. A Retry-After pauses it:
 * requests are not even sent. And the VAPID Authorization signed for it, until `renewAt`.
 */
class OriginWindow {
  limit: number;
  active = 0;
  pausedUntil = 0;
  authorization = '';
  renewAt = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly max: number) {
    this.limit = max;
  }
  get idle(): boolean {
    return this.active === 0 && this.queue.length === 0;
  }
  enter(): Promise<void> | undefined {
    if (this.active < Math.floor(this.limit)) {
      this.active++;
      return undefined;
    }
    // Taken over from the request that leaves (see leave()).
    return new Promise((resolve) => this.queue.push(resolve));
  }
  leave(): void {
    this.active--;
    while (this.queue.length > 0 && this.active < Math.floor(this.limit)) {
      this.active++;
      this.queue.shift()?.();
    }
  }
  throttled(): void {
    this.limit = Math.max(1, this.limit / 2);
  }
  answered(): void {
    if (this.limit < this.max) this.limit = Math.min(this.max, this.limit + 1 / Math.floor(this.limit));
  }
}

export interface WebPushClientOptions {
  /** Requests in flight at once, over all origins (encryption included). */
  concurrency: number;
  timeoutMs: number;
  /** Encryption threads; 0 encrypts on the event loop. */
  threads: number;
  /** HTTP/2 connections per push service origin. */
  connectionsPerOrigin: number;
  /** Streams per HTTP/2 connection at most. */
  streamsPerConnection: number;
  lookup?: net.LookupFunction;
  logger: Logger;
  /** Default Date.now; the back-pressure pauses are measured with it. */
  now?: () => number;
}

/**
 * Web Push: aes128gcm encryption (RFC 8291, src/webpush/encrypt.ts) on worker threads, VAPID
 * (RFC 8292) signed once per push service origin, and the request written by the transport to
 * exactly the host and port of a PushTarget (HTTP/2 where offered, else keep-alive HTTP/1.1). At
 * most `concurrency` messages are being encrypted or sent at once, and each origin has a window of
 * its own that throttle answers (429, 406, 503) halve and other answers grow back; a Retry-After
 * also pauses the origin (at most 60 s), during which its sends return at once without a request.
 */
export function createWebPushClient(vapid: VapidKeys, options: WebPushClientOptions): WebPushClient {
  const now = options.now ?? Date.now;
  const window = createSemaphore(options.concurrency);
  // Names resolve to public addresses only (IP literals the policy approved are not looked up).
  const transport = createPushTransport({
    timeoutMs: options.timeoutMs,
    lookup: options.lookup ?? publicOnlyLookup(),
    connectionsPerOrigin: options.connectionsPerOrigin,
    streamsPerConnection: options.streamsPerConnection,
    http1Sockets: options.concurrency,
  });
  const encryptor: EncryptPool = createEncryptPool(options.threads, options.logger);
  const authorizationFor = (state: OriginWindow, audience: string) => {
    if (state.renewAt > now()) return state.authorization;
    const expiration = Math.floor(now() / 1000) + VAPID_LIFETIME_S;
    const { Authorization } = webpush.getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', expiration) as { Authorization: string };
    state.authorization = Authorization;
    state.renewAt = now() + VAPID_RENEW_MS;
    return Authorization;
  };
  // Per push service origin: window, pause and VAPID header (bounded: every distinct origin of a
  // stored endpoint adds one; idle ones are forgotten first).
  const windows = new Map<string, OriginWindow>();
  const windowOf = (origin: string): OriginWindow => {
    let state = windows.get(origin);
    if (!state) {
      if (windows.size >= MAX_ORIGIN_STATES) {
        // An idle one, else the oldest (requests still using it keep their own reference).
        let evict = windows.keys().next().value as string;
        for (const [key, old] of windows) {
          if (old.idle && old.pausedUntil <= now()) {
            evict = key;
            break;
          }
        }
        windows.delete(evict);
      }
      state = new OriginWindow(options.concurrency);
      windows.set(origin, state);
    }
    return state;
  };
  const answered = (state: OriginWindow, origin: string, answer: PushAnswer): WebPushResult => {
    if (answer.status >= 200 && answer.status < 300) {
      state.answered();
      return OK;
    }
    const result = refusal(answer);
    if (result.ok || !THROTTLED.has(answer.status)) {
      state.answered();
      return result;
    }
    state.throttled();
    if (result.retryAfterMs !== undefined) {
      // A Retry-After is honoured up to 60 s, as the sender's retry delay is: an origin never stalls longer.
      const pause = Math.min(MAX_PAUSE_MS, result.retryAfterMs);
      state.pausedUntil = Math.max(state.pausedUntil, now() + pause);
      options.logger.warn({ origin, status: answer.status, pauseMs: pause, window: Math.floor(state.limit) }, 'Push service asked to slow down: pausing requests to it');
      return { ...result, retryAfterMs: pause };
    }
    // 503 without Retry-After is an ordinary transient failure; 429 and 406 get a floor on the retry.
    return answer.status === 503 ? result : { ...result, retryAfterMs: THROTTLE_RETRY_MS };
  };
  const post = async (state: OriginWindow, target: PushTarget, keys: PushSubscription['keys'], message: WebPushMessage): Promise<WebPushResult> => {
    let body: Buffer;
    try {
      body = await encryptor.encrypt(keys.p256dh, keys.auth, message.payload);
    } catch (error) {
      // Keys that cannot be used stay unusable; a thread that died is worth another try.
      if (error instanceof EncryptionError) return { ok: false, status: null, reason: `EncryptionFailed: ${error.message}`, final: true };
      return { ok: false, status: null, reason: (error as Error).message };
    }
    const headers: Record<string, string> = {
      ttl: String(message.ttl),
      urgency: message.urgency,
      'content-type': 'application/octet-stream',
      'content-encoding': 'aes128gcm',
      authorization: authorizationFor(state, target.origin),
      ...(message.topic ? { topic: message.topic } : {}),
    };
    const sent = await transport.post(target, headers, body);
    if (!sent.ok) return { ok: false, status: null, reason: sent.reason };
    return answered(state, target.origin, sent.answer);
  };
  return {
    async send(target, keys, message) {
      const state = windowOf(target.origin);
      // Paused: nothing is sent, and the sender waits without counting an attempt.
      const pausedFor = state.pausedUntil - now();
      if (pausedFor > 0) return { ok: false, status: null, reason: `Paused: ${target.origin} asked to slow down (Retry-After)`, retryAfterMs: pausedFor, notSent: true };
      const entering = state.enter();
      if (entering) await entering;
      try {
        return await window.run(() => post(state, target, keys, message));
      } finally {
        state.leave();
      }
    },
    get inFlight() {
      return window.active;
    },
    get threads() {
      return encryptor.threads.length;
    },
    protocolOf: (target) => transport.protocolOf(target),
    async close() {
      transport.close();
      await encryptor.close();
    },
  };
}
