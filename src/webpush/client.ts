import webpush, { WebPushError } from 'web-push';
import { createSemaphore } from '../apns/semaphore';
import type { PushSubscription } from '../devices/repository';
import type { WebPushResult } from './outcomes';
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
  /** Sends to one subscription; never throws for push service or network failures, it returns them typed. */
  send(subscription: PushSubscription, message: WebPushMessage): Promise<WebPushResult>;
  /** Requests sent and not yet answered. */
  readonly inFlight: number;
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

function failure(error: unknown): WebPushResult {
  if (error instanceof WebPushError) {
    const headers = error.headers as Record<string, string | undefined>;
    const body = String(error.body ?? '').trim().slice(0, 160);
    const reason = `${error.statusCode}${body ? ` ${body}` : ''}`;
    const after = retryAfterMs(headers['retry-after']);
    return { ok: false, status: error.statusCode, reason, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  return { ok: false, status: null, reason: (error as Error)?.message ?? 'UnknownError' };
}

/**
 * Web Push through the `web-push` library (aes128gcm payload encryption, VAPID). At most
 * `concurrency` requests are in flight; VAPID headers are signed once per push service origin.
 */
export function createWebPushClient(vapid: VapidKeys, options: { concurrency: number; timeoutMs: number }): WebPushClient {
  const window = createSemaphore(options.concurrency);
  const signed = new Map<string, { authorization: string; renewAt: number }>();
  const authorizationFor = (endpoint: string) => {
    const audience = new URL(endpoint).origin;
    const cached = signed.get(audience);
    if (cached && cached.renewAt > Date.now()) return cached.authorization;
    const expiration = Math.floor(Date.now() / 1000) + VAPID_LIFETIME_S;
    const { Authorization } = webpush.getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', expiration) as { Authorization: string };
    signed.set(audience, { authorization: Authorization, renewAt: Date.now() + VAPID_RENEW_MS });
    return Authorization;
  };
  return {
    send(subscription, message) {
      return window.run(async () => {
        try {
          await webpush.sendNotification(subscription, message.payload, {
            TTL: message.ttl,
            urgency: message.urgency,
            ...(message.topic ? { topic: message.topic } : {}),
            contentEncoding: 'aes128gcm',
            timeout: options.timeoutMs,
            headers: { Authorization: authorizationFor(subscription.endpoint) },
          });
          return OK;
        } catch (error) {
          return failure(error);
        }
      });
    },
    get inFlight() {
      return window.active;
    },
  };
}
