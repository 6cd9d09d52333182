import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import webpush from 'web-push';
import { createSemaphore } from '../apns/semaphore';
import type { PushSubscription } from '../devices/repository';
import type { WebPushResult } from './outcomes';
import type { PushTarget } from './endpoint';
import { publicOnlyLookup } from './public-lookup';
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
  /** Closes idle connections (shutdown). */
  close(): void;
}

const OK: WebPushResult = Object.freeze({ ok: true });
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
// A VAPID JWT may live 24 h (RFC 8292 §2); one per push service origin, renewed well before it ends.
const VAPID_LIFETIME_S = 12 * 60 * 60;
const VAPID_RENEW_MS = 6 * 60 * 60 * 1000;
const MAX_SIGNED_ORIGINS = 1000;

/** `Retry-After` in seconds or as an HTTP date, in ms from now. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

/** What a push service's refusal becomes: status, a short reason from its body, Retry-After. */
function refusal(status: number, body: string, headers: http.IncomingHttpHeaders): WebPushResult {
  const text = body.trim().slice(0, 160);
  const after = retryAfterMs(typeof headers['retry-after'] === 'string' ? headers['retry-after'] : undefined);
  return { ok: false, status, reason: `${status}${text ? ` ${text}` : ''}`, ...(after !== undefined ? { retryAfterMs: after } : {}) };
}

/**
 * Web Push: aes128gcm payload encryption (RFC 8291, `web-push`'s helper), VAPID (RFC 8292) signed
 * once per push service origin, and the request written here to exactly the host and port of a
 * PushTarget (never a URL parsed again). At most `concurrency` requests are in flight, on
 * keep-alive connections.
 */
export function createWebPushClient(vapid: VapidKeys, options: { concurrency: number; timeoutMs: number; lookup?: net.LookupFunction }): WebPushClient {
  const window = createSemaphore(options.concurrency);
  const agent = new https.Agent({ keepAlive: true, maxSockets: options.concurrency });
  // Names resolve to public addresses only (IP literals the policy approved are not looked up).
  const lookup = options.lookup ?? publicOnlyLookup();
  const signed = new Map<string, { authorization: string; renewAt: number }>();
  const authorizationFor = (audience: string) => {
    const cached = signed.get(audience);
    if (cached && cached.renewAt > Date.now()) return cached.authorization;
    const expiration = Math.floor(Date.now() / 1000) + VAPID_LIFETIME_S;
    const { Authorization } = webpush.getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', expiration) as { Authorization: string };
    // Bounded: every distinct push service origin of a stored endpoint adds one.
    if (signed.size >= MAX_SIGNED_ORIGINS) signed.delete(signed.keys().next().value as string);
    signed.set(audience, { authorization: Authorization, renewAt: Date.now() + VAPID_RENEW_MS });
    return Authorization;
  };
  const post = (target: PushTarget, keys: PushSubscription['keys'], message: WebPushMessage) =>
    new Promise<WebPushResult>((resolve) => {
      let body: Buffer;
      try {
        body = webpush.encrypt(keys.p256dh, keys.auth, message.payload, 'aes128gcm').cipherText;
      } catch (error) {
        resolve({ ok: false, status: null, reason: `EncryptionFailed: ${(error as Error).message}` });
        return;
      }
      const headers: http.OutgoingHttpHeaders = {
        TTL: String(message.ttl),
        Urgency: message.urgency,
        'Content-Type': 'application/octet-stream',
        'Content-Encoding': 'aes128gcm',
        'Content-Length': body.length,
        Authorization: authorizationFor(target.origin),
        ...(message.topic ? { Topic: message.topic } : {}),
      };
      const request = https.request(
        {
          agent,
          method: 'POST',
          hostname: target.hostname,
          port: target.port,
          path: target.path,
          headers,
          // SNI carries names only.
          ...(net.isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
          lookup,
          timeout: options.timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            // Only the start of a refusal's body is kept as its reason.
            if (size < 1024) chunks.push(chunk);
            size += chunk.length;
          });
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(OK);
            else resolve(refusal(status, Buffer.concat(chunks).toString('utf8'), response.headers));
          });
          response.on('error', (error) => resolve({ ok: false, status: null, reason: error.message }));
        },
      );
      // The socket timeout catches silence; the deadline also a push service that answers drop by drop.
      const deadline = setTimeout(() => request.destroy(new Error(`Timeout: no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
      request.on('close', () => clearTimeout(deadline));
      request.on('timeout', () => request.destroy(new Error(`Timeout: no answer within ${options.timeoutMs} ms`)));
      request.on('error', (error) => resolve({ ok: false, status: null, reason: error.message }));
      request.end(body);
    });
  return {
    send(target, keys, message) {
      return window.run(() => post(target, keys, message));
    },
    get inFlight() {
      return window.active;
    },
    close() {
      agent.destroy();
    },
  };
}
