import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { hotStatement } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';
import { boundedText, checkedText } from '../db/text';
import { AppError } from '../errors';
import { MAX_ENDPOINT_LENGTH } from '../webpush/endpoint';

/** How a device is reached: APNs for legacy Safari, standard Web Push for the rest. */
export type Channel = 'safari' | 'webpush';
export const CHANNELS: readonly Channel[] = ['safari', 'webpush'];

/** A Web Push subscription as the browser's pushManager.subscribe() returns it. */
export interface PushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/**
 * A Safari device or a Web Push subscription as stored. Times are epoch milliseconds. For Web Push,
 * `token` is the SHA-256 (hex) of the endpoint: the same 64-character key as an APNs token.
 */
export interface Device {
  id: number;
  channel: Channel;
  token: string;
  subscription?: PushSubscription;
  websitePushId: string;
  userId: string | null;
  createdAt: number;
  registeredAt: number;
}

interface DeviceRow {
  id: number;
  channel: Channel;
  token: string;
  endpoint: string | null;
  p256dh: string | null;
  auth: string | null;
  website_push_id: string;
  user_id: string | null;
  registered_by: string | null;
  created_at: number;
  registered_at: number;
}

const toDevice = (row: DeviceRow): Device => ({
  id: row.id,
  channel: row.channel,
  token: row.token,
  ...(row.channel === 'webpush' && row.endpoint && row.p256dh && row.auth ? { subscription: { endpoint: row.endpoint, keys: { p256dh: row.p256dh, auth: row.auth } } } : {}),
  websitePushId: row.website_push_id,
  userId: row.user_id,
  createdAt: Number(row.created_at),
  registeredAt: Number(row.registered_at),
});

export interface DeviceRepository {
  /**
   * Stores a Safari device, or refreshes its registration time when the same owner registers it
   * again. 'refused' (nothing changes) when the token is registered to another user, to another
   * anonymous package (`nonce`), or is a Web Push subscription's key.
   */
  register(input: { token: string; websitePushId: string; userId: string | null; nonce?: string | null; now: number; facts?: DeviceFactsInput }): Promise<'registered' | 'refused'>;
  /**
   * Forgets one Safari registration, in one statement and only for its owner (the same rule as
   * register; an anonymous device stored before nonces were kept has no owner to prove and stays
   * until APNs calls it dead). 'refused' when the device is someone else's.
   */
  unregister(input: { token: string; websitePushId: string; userId: string | null; nonce: string }): Promise<'removed' | 'absent' | 'refused'>;
  findByToken(token: string): Promise<Device | undefined>;
  /** Removes the token under every push ID (of `channel`, when given); true when anything was removed. */
  removeToken(token: string, channel?: Channel): Promise<boolean>;
  /**
   * Removes the Safari device unless it registered again after `sinceMs` (APNs' 410 timestamp): a
   * token APNs called dead may have come back since. 'absent' when there was nothing to remove.
   */
  removeUnlessRegisteredAfter(token: string, sinceMs: number): Promise<'removed' | 'kept' | 'absent'>;
  /** Stores a Web Push subscription, or refreshes its keys, user and time when the endpoint is known. */
  subscribe(input: { subscription: PushSubscription; websitePushId: string; userId: string | null; now: number; facts?: DeviceFactsInput }): Promise<Pick<Device, 'token' | 'channel' | 'userId'>>;
  /** Forgets a Web Push subscription by its endpoint; true when there was one. */
  unsubscribe(endpoint: string, websitePushId: string): Promise<boolean>;
  /** Newest registration first. */
  list(query: { userId?: string; channel?: Channel; limit: number; cursor?: string }): Promise<Page<Device>>;
  /** How many devices each channel has. */
  totals(): Promise<Record<Channel, number>>;
}

/** What a device says of itself when it registers or subscribes (all optional). */
export interface DeviceFactsInput {
  browser?: string | null;
  os?: string | null;
  timezone?: string | null;
  language?: string | null;
}

/** The stored key of a Web Push subscription. */
export function endpointToken(endpoint: string): string {
  return crypto.createHash('sha256').update(endpoint).digest('hex');
}

/** Facts in column order (browser, os, timezone, language), bounded as the columns are. */
const factValues = (facts: DeviceFactsInput) => [
  boundedText(facts.browser, 32),
  boundedText(facts.os, 32),
  checkedText(facts.timezone, 64, 'timezone'),
  checkedText(facts.language, 35, 'language'),
];

/** Device storage over knex; works on SQLite and PostgreSQL alike. */
export function createDeviceRepository(db: Knex): DeviceRepository {
  const devices = () => db<DeviceRow>('devices');
  // Registrations are the busiest write: a prepared upsert, not a query built per request.
  // A known token is refreshed only for its owner: the same user, or for an anonymous device the
  // same package (nonce). An anonymous device stored before nonces were kept is never bound to the
  // first nonce that comes along (that could be anyone's): it only has its time refreshed. The
  // WHERE of DO UPDATE makes that one statement, so two racing registrations cannot both win.
  const upsert = hotStatement(
    db,
    `INSERT INTO devices (channel, token, website_push_id, user_id, registered_by, created_at, registered_at, browser, os, timezone, language) VALUES ('safari', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (token, website_push_id) DO UPDATE SET registered_at = excluded.registered_at,
       timezone = COALESCE(excluded.timezone, devices.timezone), language = COALESCE(excluded.language, devices.language)
     WHERE devices.channel = 'safari' AND devices.user_id IS NOT DISTINCT FROM excluded.user_id
       AND (devices.user_id IS NOT NULL OR devices.registered_by IS NULL OR devices.registered_by = excluded.registered_by)`,
  );
  // Subscriptions the same way (group commit on SQLite). Only a subscription is refreshed, never a
  // Safari device that happens to share the key.
  const upsertSubscription = hotStatement(
    db,
    `INSERT INTO devices (channel, token, website_push_id, user_id, endpoint, p256dh, auth, created_at, registered_at, browser, os, timezone, language) VALUES ('webpush', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (token, website_push_id) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, registered_at = excluded.registered_at,
       browser = COALESCE(excluded.browser, devices.browser), os = COALESCE(excluded.os, devices.os),
       timezone = COALESCE(excluded.timezone, devices.timezone), language = COALESCE(excluded.language, devices.language)
     WHERE devices.channel = 'webpush'`,
  );
  return {
    async register({ token, websitePushId, userId, nonce, now, facts = {} }) {
      const changed = await upsert([token, websitePushId, checkedText(userId, 255, 'userId'), checkedText(nonce, 64, 'nonce'), now, now, ...factValues(facts)]);
      return changed > 0 ? 'registered' : 'refused';
    },
    async unregister({ token, websitePushId, userId, nonce }) {
      const removed = await devices()
        .where({ token, website_push_id: websitePushId, channel: 'safari' })
        .whereRaw('user_id IS NOT DISTINCT FROM ?', [userId])
        .andWhere((owner) => owner.whereNotNull('user_id').orWhere('registered_by', nonce))
        .delete();
      if (removed > 0) return 'removed';
      return (await devices().where({ token, website_push_id: websitePushId, channel: 'safari' }).first('id')) ? 'refused' : 'absent';
    },
    async findByToken(token) {
      const row = await devices().where({ token }).orderBy('registered_at', 'desc').first();
      return row ? toDevice(row as DeviceRow) : undefined;
    },
    async removeToken(token, channel) {
      const query = devices().where({ token });
      if (channel) query.andWhere({ channel });
      return (await query.delete()) > 0;
    },
    async removeUnlessRegisteredAfter(token, sinceMs) {
      const removed = await devices().where({ token, channel: 'safari' }).andWhere('registered_at', '<=', sinceMs).delete();
      if (removed > 0) return 'removed';
      return (await devices().where({ token, channel: 'safari' }).first()) ? 'kept' : 'absent';
    },
    async subscribe({ subscription, websitePushId, userId, now, facts = {} }) {
      const token = endpointToken(subscription.endpoint);
      const user = checkedText(userId, 255, 'userId');
      const changed = await upsertSubscription([
        token,
        websitePushId,
        user,
        checkedText(subscription.endpoint, MAX_ENDPOINT_LENGTH, 'endpoint'),
        checkedText(subscription.keys.p256dh, 128, 'keys.p256dh'),
        checkedText(subscription.keys.auth, 64, 'keys.auth'),
        now,
        now,
        ...factValues(facts),
      ]);
      // Nothing changed: the key belongs to a Safari device (DO UPDATE's WHERE left it alone).
      if (changed === 0) throw new AppError(409, 'token_in_use', 'That endpoint\'s key is in use by another device');
      return { token, channel: 'webpush', userId: user };
    },
    async unsubscribe(endpoint, websitePushId) {
      return (await devices().where({ token: endpointToken(endpoint), website_push_id: websitePushId, channel: 'webpush' }).delete()) > 0;
    },
    async totals() {
      const rows = (await db('devices').select('channel').count<{ channel: Channel; n: number }[]>({ n: '*' }).groupBy('channel')) as Array<{ channel: Channel; n: number }>;
      const totals: Record<Channel, number> = { safari: 0, webpush: 0 };
      for (const row of rows) if (row.channel in totals) totals[row.channel] = Number(row.n);
      return totals;
    },
    async list({ userId, channel, limit, cursor }) {
      const query = devices().select('*');
      if (userId !== undefined) query.where({ user_id: userId });
      if (channel !== undefined) query.where({ channel });
      return newestFirst<DeviceRow, Device>(query, 'registered_at', { limit, cursor }, toDevice);
    },
  };
}
