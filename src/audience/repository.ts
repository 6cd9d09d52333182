import type { EventWriter } from './event-writer';
import type { Knex } from 'knex';
import { hotStatement, isPostgres } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';
import { boundedText, checkedText } from '../db/text';
import type { Channel } from '../devices/repository';
import { AppError } from '../errors';
import { MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES, MAX_PROPERTIES_BYTES, NAME_PATTERN, type AttributeValue } from './values';

/** Who a user is, as the site told the service. Times are epoch milliseconds. */
export interface Profile {
  userId: string;
  attributes: Record<string, AttributeValue>;
  timezone: string | null;
  language: string | null;
  /** A test profile: test sends go to its devices. */
  test: boolean;
  createdAt: number;
  updatedAt: number;
  lastSeenAt: number | null;
}

/** A device as a profile shows it: what it is, not how to reach it. */
export interface ProfileDevice {
  id: number;
  channel: Channel;
  token: string;
  browser: string | null;
  os: string | null;
  timezone: string | null;
  language: string | null;
  subscribedAt: number;
  lastSeenAt: number | null;
}

export interface ProfileChange {
  attributes?: Record<string, AttributeValue | null>;
  timezone?: string | null;
  language?: string | null;
  test?: boolean;
}

export interface EventInput {
  name: string;
  userId: string | null;
  deviceId: number | null;
  time: number;
  properties: Record<string, AttributeValue> | null;
  clientIp: string | null;
}

export interface StoredEvent extends EventInput {
  id: number;
  createdAt: number;
}

/** Everything held about one user (GET /users/{id}/export). */
export interface UserExport {
  /** Goal events credited to notifications (results): which, when, and the revenue counted. */
  conversions: Array<{ notificationId: string; eventId: number; at: number; channel: Channel; revenue: number | null }>;
  profile: Profile | null;
  devices: Array<ProfileDevice & { endpoint?: string }>;
  events: StoredEvent[];
  notifications: Array<{
    notificationId: string;
    title: string;
    body: string;
    createdAt: number;
    channel: Channel;
    outcome: string;
    status: number | null;
    reason: string | null;
    updatedAt: number;
    clickedAt: number | null;
    clickedAction: number | null;
  }>;
}

export interface AudienceRepository {
  /** Replaces the profile (PUT): attributes not given are gone. */
  put(userId: string, change: ProfileChange, now: number): Promise<Profile>;
  /** Merges into the profile (PATCH, batch); a null attribute is removed. Creates it when new. */
  merge(userId: string, change: ProfileChange, now: number): Promise<Profile>;
  /** Many merges in one transaction: all stored, or none (a bound is exceeded: 400). */
  mergeMany(changes: Array<{ userId: string } & ProfileChange>, now: number): Promise<number>;
  /** The stored profile; undefined when there is none. */
  get(userId: string): Promise<Profile | undefined>;
  /** The user's devices, newest registration first (at most 1,000: a person has a few). */
  devicesOf(userId: string): Promise<ProfileDevice[]>;
  /**
   * Erases the user: the profile, the devices and the events (the user's and their devices'); the
   * deliveries to those devices stay (so counts stay right) with the token gone. True when
   * anything was held.
   */
  erase(userId: string): Promise<boolean>;
  exportUser(userId: string): Promise<UserExport>;
  addEvents(events: EventInput[], now: number): Promise<number>;
  events(userId: string, request: { limit: number; cursor?: string }): Promise<Page<StoredEvent>>;
  /**
   * What the data holds, for tools that build filters and templates: the attribute names (and
   * their types) of the newest `sample` profiles, and up to `maxEvents` event names.
   */
  fields(sample: number, maxEvents: number): Promise<{ attributes: Array<{ name: string; type: string }>; events: string[] }>;
  /** Deletes events older than `before` (retention), in slices; how many went. */
  pruneEvents(before: number): Promise<number>;
  /**
   * What a page reports for its device, in one transaction: binds an anonymous device to `userId`
   * ('elsewhere' when the device is another user's: nothing changes), refreshes its facts, marks a
   * visit and stores the events (of the device, and of its user when it has one).
   */
  recordFromPage(input: {
    deviceId: number;
    userId: string | null;
    facts: { browser: string | null; os: string | null; timezone: string | null; language: string | null };
    visitAt: number | null;
    events: Array<Pick<EventInput, 'name' | 'time' | 'properties' | 'clientIp'>>;
    now: number;
  }): Promise<{ outcome: 'recorded'; accepted: number } | { outcome: 'elsewhere' | 'unknown' | 'safari' }>;
  /** Devices by token (APNs token or a subscription's key): id and user, for events posted with `token`. */
  devicesByToken(tokens: string[]): Promise<Map<string, { id: number; userId: string | null }>>;
}

interface ProfileRow {
  user_id: string;
  attributes: string | Record<string, AttributeValue>;
  timezone: string | null;
  language: string | null;
  test: boolean | number;
  created_at: number;
  updated_at: number;
  last_seen_at: number | null;
}

interface EventRow {
  id: number;
  name: string;
  user_id: string | null;
  device_id: number | null;
  time: number;
  properties: string | Record<string, AttributeValue> | null;
  client_ip: string | null;
  created_at: number;
}

interface DeviceFactsRow {
  id: number;
  channel: Channel;
  token: string;
  endpoint?: string | null;
  browser: string | null;
  os: string | null;
  timezone: string | null;
  language: string | null;
  created_at: number;
  last_seen_at: number | null;
}

/** PostgreSQL hands jsonb back parsed; SQLite hands back the text. */
const fromJson = <T>(value: string | T | null): T | null => (value === null ? null : typeof value === 'string' ? (JSON.parse(value) as T) : value);
const optionalTime = (value: number | null) => (value === null || value === undefined ? null : Number(value));

const toProfile = (row: ProfileRow): Profile => ({
  userId: row.user_id,
  attributes: fromJson<Record<string, AttributeValue>>(row.attributes) ?? {},
  timezone: row.timezone,
  language: row.language,
  test: Boolean(row.test),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
  lastSeenAt: optionalTime(row.last_seen_at),
});

const toEvent = (row: EventRow): StoredEvent => ({
  id: Number(row.id),
  name: row.name,
  userId: row.user_id,
  deviceId: row.device_id === null ? null : Number(row.device_id),
  time: Number(row.time),
  properties: fromJson<Record<string, AttributeValue>>(row.properties),
  clientIp: row.client_ip,
  createdAt: Number(row.created_at),
});

const toProfileDevice = (row: DeviceFactsRow): ProfileDevice => ({
  id: Number(row.id),
  channel: row.channel,
  token: row.token,
  browser: row.browser,
  os: row.os,
  timezone: row.timezone,
  language: row.language,
  subscribedAt: Number(row.created_at),
  lastSeenAt: optionalTime(row.last_seen_at),
});

const DEVICE_FACTS = ['id', 'channel', 'token', 'browser', 'os', 'timezone', 'language', 'created_at', 'last_seen_at'];

/** Ids (or texts) in slices small enough for one `IN (…)` list on either backend. */
function* slices<T>(items: T[], size = 500): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** The last line of defence for attributes, whatever the route checked: names, count and size. */
function checkedAttributes(attributes: Record<string, AttributeValue>): string {
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) throw new AppError(400, 'too_many_attributes', `A profile holds at most ${MAX_ATTRIBUTES} attributes (this one would have ${names.length})`);
  const bad = names.find((name) => !NAME_PATTERN.test(name));
  if (bad !== undefined) throw new AppError(400, 'invalid_attribute', `Attribute name ${JSON.stringify(bad.slice(0, 80))} is not 1 to 64 of A-Z, a-z, 0-9 and _`);
  const json = JSON.stringify(attributes);
  if (Buffer.byteLength(json) > MAX_ATTRIBUTES_BYTES) throw new AppError(400, 'attributes_too_large', `A profile's attributes take at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON`);
  return checkedText(json, MAX_ATTRIBUTES_BYTES, 'attributes');
}

/** What deliveries keep of an erased user's device instead of its token. */
export const ERASED_TOKEN = 'erased';

export function createAudienceRepository(db: Knex, websitePushId: string, options: { eventWriter?: EventWriter } = {}): AudienceRepository {
  const postgres = isPostgres(db);
  const profiles = (trx: Knex = db) => trx<ProfileRow>('profiles');
  // Events are the busiest write after registrations: on a SQLite file the event writer thread
  // (event-writer.ts); in memory a prepared insert whose calls from concurrent requests commit
  // together (group commit); on PostgreSQL one statement per slice.
  const { eventWriter } = options;
  const insertEvent = postgres || eventWriter ? undefined : hotStatement(db, 'INSERT INTO events (name, user_id, device_id, time, properties, client_ip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');

  const write = async (trx: Knex, userId: string, change: ProfileChange, now: number, replace: boolean): Promise<Profile> => {
    const id = checkedText(userId, 255, 'userId');
    const query = profiles(trx).where({ user_id: id });
    // Row lock on PostgreSQL, so two merges of one profile never lose each other's attributes
    // (SQLite runs one write transaction at a time).
    const existing = (await (postgres ? query.forUpdate() : query).first()) as ProfileRow | undefined;
    const before = existing ? toProfile(existing) : undefined;
    const attributes: Record<string, AttributeValue> = replace ? {} : { ...(before?.attributes ?? {}) };
    for (const [name, value] of Object.entries(change.attributes ?? {})) {
      if (value === null) delete attributes[name];
      else attributes[name] = value;
    }
    const keep = <T>(given: T | undefined, old: T) => (given === undefined ? old : given);
    const row: ProfileRow = {
      user_id: id,
      attributes: checkedAttributes(attributes),
      timezone: checkedText(keep(change.timezone, replace ? null : (before?.timezone ?? null)), 64, 'timezone'),
      language: checkedText(keep(change.language, replace ? null : (before?.language ?? null)), 35, 'language'),
      test: keep(change.test, replace ? false : (before?.test ?? false)),
      created_at: before?.createdAt ?? now,
      updated_at: now,
      last_seen_at: before?.lastSeenAt ?? null,
    };
    if (existing) await profiles(trx).where({ user_id: id }).update(row);
    else await profiles(trx).insert(row).onConflict('user_id').merge();
    return toProfile(row);
  };

  /** The user's devices and everything attached to them, for erasure and export. */
  const deviceIdsOf = async (trx: Knex, userId: string): Promise<number[]> =>
    ((await trx('devices').where({ user_id: userId, website_push_id: websitePushId }).select('id')) as Array<{ id: number }>).map((row) => Number(row.id));

  /**
   * Deliveries to some devices, found through the (notification_id, device_id) index one
   * notification slice at a time: deliveries have no index on the device alone (every send would
   * pay for one), and a person's handful of devices over every notification is a few probes each.
   */
  const deliveriesOf = async (trx: Knex, deviceIds: number[], columns: string[]) => {
    if (deviceIds.length === 0) return [];
    const found: Array<Record<string, unknown>> = [];
    let after = '';
    for (;;) {
      const ids = ((await trx('notifications').where('id', '>', after).orderBy('id').limit(500).select('id')) as Array<{ id: string }>).map((row) => row.id);
      if (ids.length === 0) break;
      after = ids[ids.length - 1];
      for (const devices of slices(deviceIds)) {
        found.push(...((await trx('deliveries').whereIn('notification_id', ids).whereIn('device_id', devices).select(columns)) as Array<Record<string, unknown>>));
      }
    }
    return found;
  };

  return {
    put: (userId, change, now) => db.transaction((trx) => write(trx, userId, change, now, true)),
    merge: (userId, change, now) => db.transaction((trx) => write(trx, userId, change, now, false)),
    async mergeMany(changes, now) {
      await db.transaction(async (trx) => {
        for (const { userId, ...change } of changes) await write(trx, userId, change, now, false);
      });
      return changes.length;
    },
    async get(userId) {
      const row = await profiles().where({ user_id: userId }).first();
      return row ? toProfile(row as ProfileRow) : undefined;
    },
    async fields(sample, maxEvents) {
      const rows = (await profiles().orderBy('created_at', 'desc').limit(sample).select('attributes')) as Array<Pick<ProfileRow, 'attributes'>>;
      const types = new Map<string, Set<string>>();
      const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;
      for (const row of rows) {
        const attributes = typeof row.attributes === 'string' ? (JSON.parse(row.attributes) as Record<string, AttributeValue>) : row.attributes;
        for (const [name, value] of Object.entries(attributes)) {
          const type = Array.isArray(value) ? 'list' : typeof value === 'string' && ISO_DATE.test(value) ? 'date' : typeof value;
          (types.get(name) ?? types.set(name, new Set()).get(name) ?? new Set()).add(type);
        }
      }
      // Event names by skipping through the (name, time, user_id) index: one seek per name.
      const events: string[] = [];
      for (let after: string | undefined; events.length < maxEvents; ) {
        const query = db('events').orderBy('name').limit(1).select('name');
        if (after !== undefined) query.where('name', '>', after);
        const row = (await query.first()) as { name: string } | undefined;
        if (!row) break;
        events.push(row.name);
        after = row.name;
      }
      return {
        attributes: [...types.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, seen]) => ({ name, type: seen.size === 1 ? [...seen][0] : 'mixed' })),
        events,
      };
    },
    async devicesOf(userId) {
      const rows = (await db('devices').where({ user_id: userId, website_push_id: websitePushId }).orderBy('registered_at', 'desc').limit(1000).select(DEVICE_FACTS)) as DeviceFactsRow[];
      return rows.map(toProfileDevice);
    },
    async erase(userId) {
      return db.transaction(async (trx) => {
        const deviceIds = await deviceIdsOf(trx, userId);
        let held = deviceIds.length > 0;
        // The deliveries stay (counts stay right); what tied them to the person goes.
        const deliveryIds = (await deliveriesOf(trx, deviceIds, ['id'])).map((row) => Number(row.id));
        for (const ids of slices(deliveryIds)) await trx('deliveries').whereIn('id', ids).update({ token: ERASED_TOKEN, device_id: null });
        for (const ids of slices(deviceIds)) {
          held = (await trx('events').whereNull('user_id').whereIn('device_id', ids).delete()) > 0 || held;
          await trx('devices').whereIn('id', ids).delete();
        }
        held = (await trx('events').where({ user_id: userId }).delete()) > 0 || held;
        // Conversions name the user (or the device): they go; the counts they made stay.
        await trx('conversions').whereIn('user_key', [`u:${userId}`, ...deviceIds.map((id) => `d:${id}`)]).delete();
        held = (await trx('profiles').where({ user_id: userId }).delete()) > 0 || held;
        return held;
      });
    },
    async exportUser(userId) {
      const profileRow = (await profiles().where({ user_id: userId }).first()) as ProfileRow | undefined;
      const deviceRows = (await db('devices').where({ user_id: userId, website_push_id: websitePushId }).orderBy('id').select([...DEVICE_FACTS, 'endpoint'])) as DeviceFactsRow[];
      const deviceIds = deviceRows.map((row) => Number(row.id));
      const events: StoredEvent[] = [];
      for (let cursor: string | undefined, page: Page<StoredEvent>; ; cursor = page.nextCursor ?? undefined) {
        page = await this.events(userId, { limit: 1000, cursor });
        events.push(...page.items);
        if (!page.nextCursor) break;
      }
      for (const ids of slices(deviceIds)) {
        events.push(...((await db('events').whereNull('user_id').whereIn('device_id', ids).orderBy('id').select('*')) as EventRow[]).map(toEvent));
      }
      const deliveries = (await deliveriesOf(db, deviceIds, ['notification_id', 'channel', 'outcome', 'status', 'reason', 'updated_at', 'clicked_at', 'clicked_action'])) as Array<{
        notification_id: string;
        channel: Channel;
        outcome: string;
        status: number | null;
        reason: string | null;
        updated_at: number;
        clicked_at: number | null;
        clicked_action: number | null;
      }>;
      const notifications = new Map<string, { title: string; body: string; created_at: number }>();
      for (const ids of slices([...new Set(deliveries.map((d) => d.notification_id))])) {
        for (const row of (await db('notifications').whereIn('id', ids).select('id', 'title', 'body', 'created_at')) as Array<{ id: string; title: string; body: string; created_at: number }>) notifications.set(row.id, row);
      }
      return {
        profile: profileRow ? toProfile(profileRow) : null,
        devices: deviceRows.map((row) => ({ ...toProfileDevice(row), ...(row.endpoint ? { endpoint: row.endpoint } : {}) })),
        events,
        notifications: deliveries
          .map((d) => {
            const n = notifications.get(d.notification_id);
            return {
              notificationId: d.notification_id,
              title: n?.title ?? '',
              body: n?.body ?? '',
              createdAt: Number(n?.created_at ?? 0),
              channel: d.channel,
              outcome: d.outcome,
              status: d.status,
              reason: d.reason,
              updatedAt: Number(d.updated_at),
              clickedAt: optionalTime(d.clicked_at),
              clickedAction: d.clicked_action === null || d.clicked_action === undefined ? null : Number(d.clicked_action),
            };
          })
          .sort((a, b) => a.createdAt - b.createdAt),
        conversions: (
          (await db('conversions')
            .whereIn('user_key', [`u:${userId}`, ...deviceIds.slice(0, 500).map((id) => `d:${id}`)])
            .orderBy('id')
            .select('notification_id', 'event_id', 'at', 'channel', 'revenue')) as Array<{ notification_id: string; event_id: number | string; at: number | string; channel: Channel; revenue: number | string | null }>
        ).map((row) => ({ notificationId: row.notification_id, eventId: Number(row.event_id), at: Number(row.at), channel: row.channel, revenue: row.revenue === null ? null : Number(row.revenue) })),
      };
    },
    async addEvents(events, now) {
      const rows = events.map((event) => ({
        name: checkedText(event.name, 64, 'event name'),
        user_id: checkedText(event.userId, 255, 'userId'),
        device_id: event.deviceId,
        time: event.time,
        properties: event.properties ? checkedText(JSON.stringify(event.properties), MAX_PROPERTIES_BYTES, 'properties') : null,
        client_ip: boundedText(event.clientIp, 64),
        created_at: now,
      }));
      if (eventWriter) {
        await eventWriter.write(rows.map((row) => [row.name, row.user_id, row.device_id, row.time, row.properties, row.client_ip, row.created_at]));
        return rows.length;
      }
      if (insertEvent) {
        await Promise.all(rows.map((row) => insertEvent([row.name, row.user_id, row.device_id, row.time, row.properties, row.client_ip, row.created_at])));
        return rows.length;
      }
      // One statement per slice: 7 values a row stays below PostgreSQL's parameter limit.
      await db.transaction(async (trx) => {
        for (const slice of slices(rows, 1000)) await trx('events').insert(slice);
      });
      return rows.length;
    },
    async events(userId, request) {
      return newestFirst<EventRow, StoredEvent>(db('events').where({ user_id: userId }).select('*'), 'time', request, toEvent, 'bigint');
    },
    async pruneEvents(before) {
      let total = 0;
      // Slices of 5,000, so that retention never holds SQLite's write lock for long.
      for (;;) {
        const deleted = await db('events').whereIn('id', db('events').where('time', '<', before).limit(5000).select('id')).delete();
        total += deleted;
        if (deleted < 5000) break;
      }
      // Conversions are kept no longer than the events they came from (the counters stay).
      for (;;) {
        const deleted = await db('conversions').whereIn('id', db('conversions').where('at', '<', before).limit(5000).select('id')).delete();
        if (deleted < 5000) return total;
      }
    },
    async recordFromPage({ deviceId, userId, facts, visitAt, events, now }) {
      return db.transaction(async (trx) => {
        const device = (await trx('devices').where({ id: deviceId }).first('id', 'user_id', 'channel')) as { id: number; user_id: string | null; channel: string } | undefined;
        if (!device) return { outcome: 'unknown' as const };
        if (userId !== null && device.user_id !== null && device.user_id !== userId) return { outcome: 'elsewhere' as const };
        // A legacy Safari device's user comes from its package (its token proves it to Safari's
        // registration and deletion): binding it here would leave Safari unable to remove it.
        if (userId !== null && device.user_id === null && device.channel === 'safari') return { outcome: 'safari' as const };
        const owner = userId ?? device.user_id;
        const changes: Record<string, unknown> = {};
        if (userId !== null && device.user_id === null) changes.user_id = checkedText(userId, 255, 'userId');
        for (const [column, value, max] of [['browser', facts.browser, 32], ['os', facts.os, 32], ['timezone', facts.timezone, 64], ['language', facts.language, 35]] as const) {
          if (value !== null) changes[column] = boundedText(value, max);
        }
        if (visitAt !== null) changes.last_seen_at = visitAt;
        if (Object.keys(changes).length > 0) {
          // Bound only while still anonymous: of two racing identifies, one wins and the other is told.
          const updated = await trx('devices')
            .where({ id: deviceId })
            .andWhere((q) => (changes.user_id === undefined ? q : q.whereNull('user_id')))
            .update(changes);
          if (updated === 0) return { outcome: 'elsewhere' as const };
        }
        // The user is seen too (a profile with no attributes yet is made for them).
        if (visitAt !== null && owner !== null) {
          await trx('profiles')
            .insert({ user_id: checkedText(owner, 255, 'userId'), attributes: '{}', timezone: null, language: null, test: false, created_at: now, updated_at: now, last_seen_at: visitAt })
            .onConflict('user_id')
            .merge({ last_seen_at: visitAt });
        }
        const rows = events.map((event) => ({
          name: checkedText(event.name, 64, 'event name'),
          user_id: owner,
          device_id: deviceId,
          time: event.time,
          properties: event.properties ? checkedText(JSON.stringify(event.properties), MAX_PROPERTIES_BYTES, 'properties') : null,
          client_ip: boundedText(event.clientIp, 64),
          created_at: now,
        }));
        if (rows.length > 0) await trx('events').insert(rows);
        return { outcome: 'recorded' as const, accepted: rows.length };
      });
    },
    async devicesByToken(tokens) {
      const found = new Map<string, { id: number; userId: string | null }>();
      for (const slice of slices([...new Set(tokens)])) {
        for (const row of (await db('devices').whereIn('token', slice).andWhere({ website_push_id: websitePushId }).select('id', 'token', 'user_id')) as Array<{ id: number; token: string; user_id: string | null }>) {
          found.set(row.token, { id: Number(row.id), userId: row.user_id });
        }
      }
      return found;
    },
  };
}
