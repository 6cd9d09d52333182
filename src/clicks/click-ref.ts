import crypto from 'node:crypto';
import { safeEqual } from '../safe-equal';

/** What a click link carries: which delivery was clicked and the site's url-args for the redirect. */
export interface ClickRef {
  notificationId: string;
  deliveryId: number;
  urlArgs: string[];
  /**
   * Web Push: what was clicked, 0 for the notification, 1 and 2 for its buttons; the redirect goes
   * to the notification's stored URL for it. Absent on Safari links (they carry their url-args).
   */
  target?: number;
  /** Web Push, personalized sends: the page rendered for this device (the notification's own target). */
  url?: string;
}

/** The targets a Web Push click link may name: the notification and at most two buttons. */
export const MAX_CLICK_TARGET = 2;

export interface ClickRefs {
  /** A URL-safe reference: the data and a MAC, so a link cannot be forged or pointed elsewhere. */
  sign(ref: ClickRef): string;
  /** The data of a valid reference, or undefined. Every configured secret is tried (rotation). */
  verify(value: string): ClickRef | undefined;
  /** A reference for a Web Push delivery's "shown" report, under keys of its own (a click link does not count as shown, nor the reverse). */
  signShown(ref: ShownRef): string;
  verifyShown(value: string): ShownRef | undefined;
}

/** What a shown link carries: which delivery the service worker showed. */
export interface ShownRef {
  notificationId: string;
  deliveryId: number;
}

const MAC_CHARS = 22; // 128 bits of HMAC-SHA256, base64url

/** Click references signed with keys derived from AUTH_TOKEN_SECRET (the first one signs). */
export function createClickRefs(secrets: readonly string[]): ClickRefs {
  const keys = secrets.map((secret) => crypto.createHmac('sha256', secret).update('safari-push click reference').digest());
  const shownKeys = secrets.map((secret) => crypto.createHmac('sha256', secret).update('safari-push shown reference').digest());
  const mac = (key: Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest('base64url').slice(0, MAC_CHARS);
  /** The data of `value` when its MAC is one of `under`'s. */
  const macked = (value: string, under: Buffer[]): string | undefined => {
    const [data, given, extra] = value.split('.');
    if (!data || !given || extra !== undefined || given.length !== MAC_CHARS) return undefined;
    // As bytes: a given MAC with multi-byte characters has more bytes than characters.
    const givenBytes = Buffer.from(given);
    return under.some((key) => safeEqual(Buffer.from(mac(key, data)), givenBytes)) ? data : undefined;
  };
  /** The JSON array signed into `value` under one of `under`'s keys, or undefined. */
  const fieldsOf = (value: string, under: Buffer[]): unknown[] | undefined => {
    const data = macked(value, under);
    if (data === undefined) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as unknown;
      return Array.isArray(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    signShown({ notificationId, deliveryId }) {
      const data = Buffer.from(JSON.stringify([notificationId, deliveryId])).toString('base64url');
      return `${data}.${mac(shownKeys[0], data)}`;
    },
    verifyShown(value) {
      const parsed = fieldsOf(value, shownKeys);
      if (!parsed || parsed.length !== 2 || typeof parsed[0] !== 'string' || !Number.isSafeInteger(parsed[1])) return undefined;
      return { notificationId: parsed[0], deliveryId: parsed[1] as number };
    },
    sign({ notificationId, deliveryId, urlArgs, target, url }) {
      const fields = url !== undefined ? [notificationId, deliveryId, urlArgs, target ?? 0, url] : target === undefined ? [notificationId, deliveryId, urlArgs] : [notificationId, deliveryId, urlArgs, target];
      const data = Buffer.from(JSON.stringify(fields)).toString('base64url');
      return `${data}.${mac(keys[0], data)}`;
    },
    verify(value) {
      const parsed = fieldsOf(value, keys);
      if (!parsed || parsed.length < 3 || parsed.length > 5) return undefined;
      const [notificationId, deliveryId, urlArgs, target, url] = parsed as [unknown, unknown, unknown, unknown, unknown];
      if (url !== undefined && (typeof url !== 'string' || !/^https?:\/\//.test(url))) return undefined;
      if (typeof notificationId !== 'string' || !Number.isSafeInteger(deliveryId) || !Array.isArray(urlArgs) || !urlArgs.every((a) => typeof a === 'string')) return undefined;
      if (target !== undefined && !(Number.isInteger(target) && (target as number) >= 0 && (target as number) <= MAX_CLICK_TARGET)) return undefined;
      return { notificationId, deliveryId: deliveryId as number, urlArgs: urlArgs as string[], ...(target !== undefined ? { target: target as number } : {}), ...(url !== undefined ? { url: url as string } : {}) };
    },
  };
}
