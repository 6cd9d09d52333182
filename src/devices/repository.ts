import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { hotStatement } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';

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
  /** Stores the device, or refreshes its user and registration time when it is known already. */
  register(input: { token: string; websitePushId: string; userId: string | null; now: number }): Promise<void>;
  /** Forgets one registration; true when there was one. */
  unregister(token: string, websitePushId: string): Promise<boolean>;
  findByToken(token: string): Promise<Device | undefined>;
  /** Removes the token under every push ID; true when anything was removed. */
  removeToken(token: string): Promise<boolean>;
  /**
   * Removes the device unless it registered again after `sinceMs` (APNs' 410 timestamp): a
   * token APNs called dead may have come back since. 'absent' when there was nothing to remove.
   */
  removeUnlessRegisteredAfter(token: string, sinceMs: number): Promise<'removed' | 'kept' | 'absent'>;
  /** Stores a Web Push subscription, or refreshes its keys, user and time when the endpoint is known. */
  subscribe(input: { subscription: PushSubscription; websitePushId: string; userId: string | null; now: number }): Promise<Device>;
  /** Forgets a Web Push subscription by its endpoint; true when there was one. */
  unsubscribe(endpoint: string, websitePushId: string): Promise<boolean>;
  /** Newest registration first. */
  list(query: { userId?: string; channel?: Channel; limit: number; cursor?: string }): Promise<Page<Device>>;
  /** How many devices each channel has. */
  totals(): Promise<Record<Channel, number>>;
}

/** The stored key of a Web Push subscription. */
export function endpointToken(endpoint: string): string {
  return crypto.createHash('sha256').update(endpoint).digest('hex');
}

/** Device storage over knex; works on SQLite and PostgreSQL alike. */
export function createDeviceRepository(db: Knex): DeviceRepository {
  const devices = () => db<DeviceRow>('devices');
  // Registrations are the busiest write: a prepared upsert, not a query built per request.
  const upsert = hotStatement(
    db,
    `INSERT INTO devices (channel, token, website_push_id, user_id, created_at, registered_at) VALUES ('safari', ?, ?, ?, ?, ?)
     ON CONFLICT (token, website_push_id) DO UPDATE SET user_id = excluded.user_id, registered_at = excluded.registered_at`,
  );
  return {
    async register({ token, websitePushId, userId, now }) {
      await upsert([token, websitePushId, userId, now, now]);
    },
    async unregister(token, websitePushId) {
      return (await devices().where({ token, website_push_id: websitePushId }).delete()) > 0;
    },
    async findByToken(token) {
      const row = await devices().where({ token }).orderBy('registered_at', 'desc').first();
      return row ? toDevice(row as DeviceRow) : undefined;
    },
    async removeToken(token) {
      return (await devices().where({ token }).delete()) > 0;
    },
    async removeUnlessRegisteredAfter(token, sinceMs) {
      const removed = await devices().where({ token }).andWhere('registered_at', '<=', sinceMs).delete();
      if (removed > 0) return 'removed';
      return (await devices().where({ token }).first()) ? 'kept' : 'absent';
    },
    async subscribe({ subscription, websitePushId, userId, now }) {
      const token = endpointToken(subscription.endpoint);
      const row = { channel: 'webpush' as const, token, website_push_id: websitePushId, user_id: userId, endpoint: subscription.endpoint, p256dh: subscription.keys.p256dh, auth: subscription.keys.auth };
      await db('devices')
        .insert({ ...row, created_at: now, registered_at: now })
        .onConflict(['token', 'website_push_id'])
        .merge(['user_id', 'p256dh', 'auth', 'registered_at']);
      return toDevice((await devices().where({ token, website_push_id: websitePushId }).first()) as DeviceRow);
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
