import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { isPostgres } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';
import { checkedText } from '../db/text';
import { compileFilter, type Filter } from './filter';

export interface Segment {
  id: string;
  name: string;
  filter: Filter;
  createdAt: number;
  updatedAt: number;
}

/** How many a filter reaches, exactly, from the database. */
export interface Reach {
  /** Distinct identified users among the matching devices (anonymous devices count in devices only). */
  users: number;
  devices: { safari: number; webpush: number; all: number };
}

interface SegmentRow {
  id: string;
  name: string;
  filter: string;
  created_at: number;
  updated_at: number;
}

/** A filter's stored form is bounded: 100 parts of at most 1 KB values fit well within it. */
export const MAX_FILTER_JSON = 64 * 1024;

const toSegment = (row: SegmentRow): Segment => ({
  id: row.id,
  name: row.name,
  filter: JSON.parse(row.filter) as Filter,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

/** True when some part of the filter reads a profile's attributes (only then is the join needed). */
export function readsProfiles(filter: Filter): boolean {
  if ('all' in filter) return filter.all.some(readsProfiles);
  if ('any' in filter) return filter.any.some(readsProfiles);
  if ('not' in filter) return readsProfiles(filter.not);
  return 'attribute' in filter;
}

/**
 * Narrows a query over `devices` to the devices a filter matches, evaluated at `now`. Columns of
 * the query must be qualified (`devices.id`): profiles has columns of the same names.
 */
export function whereFilter(db: Knex, query: Knex.QueryBuilder, filter: Filter, now: number): Knex.QueryBuilder {
  const { sql, bindings } = compileFilter(filter, isPostgres(db) ? 'postgres' : 'sqlite', now);
  if (readsProfiles(filter)) query.leftJoin('profiles', 'profiles.user_id', 'devices.user_id');
  return query.whereRaw(sql, bindings as Knex.RawBinding[]);
}

export interface SegmentRepository {
  create(input: { name: string; filter: Filter }, now: number): Promise<Segment>;
  get(id: string): Promise<Segment | undefined>;
  list(request: { limit: number; cursor?: string }): Promise<Page<Segment>>;
  /** Replaces name and filter; undefined when there is no such segment. */
  update(id: string, input: { name: string; filter: Filter }, now: number): Promise<Segment | undefined>;
  remove(id: string): Promise<boolean>;
  /** The exact reach of a filter now: users, and devices per channel. */
  estimate(filter: Filter, now: number): Promise<Reach>;
}

export function createSegmentRepository(db: Knex, websitePushId: string): SegmentRepository {
  const segments = () => db<SegmentRow>('segments');
  const stored = (input: { name: string; filter: Filter }) => ({
    name: checkedText(input.name, 255, 'name'),
    filter: checkedText(JSON.stringify(input.filter), MAX_FILTER_JSON, 'filter'),
  });
  return {
    async create(input, now) {
      const row: SegmentRow = { id: crypto.randomUUID(), ...stored(input), created_at: now, updated_at: now };
      await segments().insert(row);
      return toSegment(row);
    },
    async get(id) {
      const row = await segments().where({ id }).first();
      return row ? toSegment(row as SegmentRow) : undefined;
    },
    async list(request) {
      return newestFirst<SegmentRow, Segment>(segments().select('*'), 'created_at', request, toSegment, 'uuid');
    },
    async update(id, input, now) {
      const changed = await segments().where({ id }).update({ ...stored(input), updated_at: now });
      return changed === 0 ? undefined : this.get(id);
    },
    async remove(id) {
      return (await segments().where({ id }).delete()) > 0;
    },
    async estimate(filter, now) {
      // One pass over the matching devices: per-channel counts and distinct users together.
      const query = whereFilter(db, db('devices').where('devices.website_push_id', websitePushId), filter, now).select(
        db.raw('count(*) as total'),
        db.raw("sum(CASE WHEN devices.channel = 'safari' THEN 1 ELSE 0 END) as safari"),
        db.raw("sum(CASE WHEN devices.channel = 'webpush' THEN 1 ELSE 0 END) as webpush"),
        db.raw('count(DISTINCT devices.user_id) as users'),
      );
      const [row] = (await query) as Array<{ total: number | string; safari: number | string | null; webpush: number | string | null; users: number | string }>;
      return { users: Number(row.users), devices: { safari: Number(row.safari ?? 0), webpush: Number(row.webpush ?? 0), all: Number(row.total) } };
    },
  };
}
