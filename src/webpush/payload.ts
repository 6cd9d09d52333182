import crypto from 'node:crypto';
import type { StoredNotification } from '../notifications/repository';
import type { WebPushMessage } from './client';

/** Largest plaintext a 4096-byte aes128gcm record carries (RFC 8291 §4: 4096 − 86 header bytes − padding delimiter − tag). */
export const MAX_WEB_PUSH_PAYLOAD_BYTES = 3993;

/** What the service worker (`/sw.js`) reads from a push. */
export interface WebPushPayload {
  title: string;
  body: string;
  icon?: string;
  /** The page to open on click: the site's urlFormatString filled with the urlArgs. */
  url: string;
  /** Replaces an earlier notification with the same tag on screen (from collapseId). */
  tag?: string;
  notificationId: string;
  /** With click tracking: where the service worker reports the click. */
  click?: string;
}

/** RFC 8030 Topic: at most 32 URL-safe base64 characters; other collapse ids are hashed to fit. */
export function topicFor(collapseId: string | undefined): string | undefined {
  if (collapseId === undefined) return undefined;
  if (/^[A-Za-z0-9_-]{1,32}$/.test(collapseId)) return collapseId;
  return crypto.createHash('sha256').update(collapseId).digest('base64url').slice(0, 32);
}

/** APNs' expiration (Unix seconds, 0 = now or never) as a TTL; no expiration = the default TTL. */
export function ttlFor(expiration: number | undefined, nowSeconds: number, defaultTtl: number): number {
  if (expiration === undefined) return defaultTtl;
  if (expiration === 0) return 0;
  return Math.max(0, Math.min(defaultTtl, expiration - nowSeconds));
}

/** APNs priority 10 (now) is Urgency `high`; 5 (when convenient for the device) is `normal`. */
export function urgencyFor(priority: 5 | 10): WebPushMessage['urgency'] {
  return priority === 10 ? 'high' : 'normal';
}

/** The JSON the service worker shows. */
export function buildWebPushPayload(notification: Pick<StoredNotification, 'id' | 'title' | 'body' | 'icon' | 'collapseId'>, url: string, defaultIcon: string, click?: string): string {
  const payload: WebPushPayload = {
    title: notification.title,
    body: notification.body,
    icon: notification.icon ?? defaultIcon,
    url,
    ...(notification.collapseId !== undefined ? { tag: notification.collapseId } : {}),
    notificationId: notification.id,
    ...(click !== undefined ? { click } : {}),
  };
  return JSON.stringify(payload);
}
