import crypto from 'node:crypto';
import type { StoredNotification } from '../notifications/repository';
import type { WebPushMessage } from './client';

/** Largest plaintext a 4096-byte aes128gcm record carries (RFC 8291 §4: 4096 − 86 header bytes − padding delimiter − tag). */
export const MAX_WEB_PUSH_PAYLOAD_BYTES = 3993;

/** A button of a declarative push message. */
export interface DeclarativeAction {
  action: string;
  title: string;
  navigate: string;
  icon?: string;
}

/**
 * The payload of every Web Push send: a declarative push message (W3C Push API, "declarative push
 * message"). Safari 18.4+ and current Firefox show it without running any script; `mutable: true`
 * lets a service worker that runs see it first, and `/sw.js` shows the same JSON where the browser
 * does not implement declarative push (Chromium). See docs/web-push.md.
 */
export interface DeclarativePushMessage {
  web_push: 8030;
  notification: {
    title: string;
    /** Absolute http(s) URL opened on click: the page, or this service's signed click link to it. */
    navigate: string;
    body?: string;
    icon?: string;
    image?: string;
    badge?: string;
    tag?: string;
    renotify?: boolean;
    silent?: boolean;
    requireInteraction?: boolean;
    lang?: string;
    dir?: 'auto' | 'ltr' | 'rtl';
    timestamp?: number;
    data?: Record<string, unknown>;
    actions?: DeclarativeAction[];
  };
  mutable: true;
  app_badge?: number;
  /** This service's own fields, read by /sw.js; browsers showing the message themselves ignore them. */
  safari_push?: { shown: string };
}

/** Action identifiers in the payload: what `notificationclick`'s `event.action` then says. */
export const ACTION_IDS = ['action-1', 'action-2'] as const;

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

/** Where a click on the notification (index 0) or on each button (1, 2) goes. */
export interface PayloadLinks {
  /** The site's page for a click on the notification (the url field, or urlFormatString filled). */
  targetUrl: string;
  /** This service's public URL: the default icon lives there. */
  serviceUrl: string;
  /** With click tracking: the signed click link for the notification, then one per button. */
  clicks?: string[];
  /** With click tracking: the signed link /sw.js posts to once it has shown the notification. */
  shown?: string;
}

/** The declarative push message of one delivery, as JSON. */
export function buildWebPushPayload(
  notification: Pick<StoredNotification, 'title' | 'body' | 'icon' | 'collapseId' | 'webPush'>,
  links: PayloadLinks,
): string {
  const rich = notification.webPush ?? {};
  const actions = rich.actions?.map(
    (action, index): DeclarativeAction => ({
      action: ACTION_IDS[index],
      title: action.title,
      navigate: links.clicks?.[index + 1] ?? action.url,
      ...(action.icon !== undefined ? { icon: action.icon } : {}),
    }),
  );
  const message: DeclarativePushMessage = {
    web_push: 8030,
    notification: {
      title: notification.title,
      navigate: links.clicks?.[0] ?? links.targetUrl,
      body: notification.body,
      icon: notification.icon ?? `${links.serviceUrl}/icon.png`,
      ...(rich.image !== undefined ? { image: rich.image } : {}),
      ...(rich.badge !== undefined ? { badge: rich.badge } : {}),
      ...(notification.collapseId !== undefined ? { tag: notification.collapseId } : {}),
      ...(rich.renotify !== undefined ? { renotify: rich.renotify } : {}),
      ...(rich.silent !== undefined ? { silent: rich.silent } : {}),
      ...(rich.requireInteraction !== undefined ? { requireInteraction: rich.requireInteraction } : {}),
      ...(rich.lang !== undefined ? { lang: rich.lang } : {}),
      ...(rich.dir !== undefined ? { dir: rich.dir } : {}),
      ...(rich.timestamp !== undefined ? { timestamp: rich.timestamp } : {}),
      ...(rich.data !== undefined ? { data: rich.data } : {}),
      ...(actions && actions.length > 0 ? { actions } : {}),
    },
    mutable: true,
    ...(rich.appBadge !== undefined ? { app_badge: rich.appBadge } : {}),
    ...(links.shown !== undefined ? { safari_push: { shown: links.shown } } : {}),
  };
  return JSON.stringify(message);
}
