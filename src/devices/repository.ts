import type { Knex } from 'knex';
import { hotStatement } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';

/** A Safari device as stored. Times are epoch milliseconds. */
export interface Device {
  id: number;
  channel: 'safari';
  token: string;
  websitePushId: string;
  userId: string | null;
  createdAt: number;
  registeredAt: number;
}

interface DeviceRow {
  id: number;
  channel: 'safari';
  token: string;
  website_push_id: string;
  user_id: string | null;
  created_at: number;
  registered_at: number;
}

const toDevice = (row: DeviceRow): Device => ({
  id: row.id,
  channel: row.channel,
  token: row.token,
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
  /** Newest registration first. */
  list(query: { userId?: string; limit: number; cursor?: string }): Promise<Page<Device>>;
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
    async list({ userId, limit, cursor }) {
      const query = devices().select('*');
      if (userId !== undefined) query.where({ user_id: userId });
      return newestFirst<DeviceRow, Device>(query, 'registered_at', { limit, cursor }, toDevice);
    },
  };
}
