import crypto from 'node:crypto';
import { isPostgres, type Db } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';
import { boundedText, checkedText } from '../db/text';
import type { Audience, Message } from '../notifications/routes';
import type { Rules } from './rules';
import type { Schedule } from './schedule';

export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
/**
 * pending: due, not fired yet; firing: a process holds its lease; fired: its notification exists
 * and is queued; missed: not sent (its cutoff passed, or a later occurrence was due already);
 * empty: nobody matched; failed: could not be created (the reason says why); cancelled: the
 * campaign was cancelled first.
 */
export const OCCURRENCE_STATUSES = ['pending', 'firing', 'fired', 'missed', 'empty', 'failed', 'cancelled'] as const;
export type OccurrenceStatus = (typeof OCCURRENCE_STATUSES)[number];

export interface CampaignInput {
  name: string;
  labels: string[];
  message: Message;
  audience: Audience;
  schedule: Schedule;
  rules: Rules;
}

export interface Campaign extends CampaignInput {
  id: string;
  status: CampaignStatus;
  /** When the next occurrence is due (scheduled and running campaigns). */
  nextAt: number | null;
  launchedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface Occurrence {
  id: number;
  campaignId: string;
  dueAt: number;
  status: OccurrenceStatus;
  /** The id the occurrence's notification has (or will have, once fired). */
  notificationId: string;
  reason: string | null;
  firedAt: number | null;
  createdAt: number;
}

interface CampaignRow {
  id: string;
  name: string;
  labels: string;
  message: string;
  audience: string;
  schedule: string;
  rules: string;
  status: CampaignStatus;
  next_at: number | string | null;
  launched_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

interface OccurrenceRow {
  id: number | string;
  campaign_id: string;
  due_at: number | string;
  status: OccurrenceStatus;
  notification_id: string;
  reason: string | null;
  lease_owner: string | null;
  lease_until: number | string | null;
  fired_at: number | string | null;
  created_at: number | string;
}

const num = (value: number | string | null): number | null => (value === null ? null : Number(value));

const toCampaign = (row: CampaignRow): Campaign => ({
  id: row.id,
  name: row.name,
  labels: JSON.parse(row.labels) as string[],
  message: JSON.parse(row.message) as Message,
  audience: JSON.parse(row.audience) as Audience,
  schedule: JSON.parse(row.schedule) as Schedule,
  rules: JSON.parse(row.rules) as Rules,
  status: row.status,
  nextAt: num(row.next_at),
  launchedAt: num(row.launched_at),
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
});

const toOccurrence = (row: OccurrenceRow): Occurrence => ({
  id: Number(row.id),
  campaignId: row.campaign_id,
  dueAt: Number(row.due_at),
  status: row.status,
  notificationId: row.notification_id,
  reason: row.reason,
  firedAt: num(row.fired_at),
  createdAt: Number(row.created_at),
});

/** The JSON columns are bounded here too: the routes bound each field, this bounds the whole. */
const MAX_JSON = { labels: 4096, message: 65_536, audience: 1_048_576, schedule: 16_384, rules: 4096 };
const MAX_REASON = 255;

function jsonColumn(value: unknown, column: keyof typeof MAX_JSON): string {
  // JSON.stringify escapes lone surrogates and NUL as \u sequences: the stored text is well-formed.
  return checkedText(JSON.stringify(value), MAX_JSON[column], column);
}

function columnsOf(input: Partial<CampaignInput>): Partial<CampaignRow> {
  const row: Partial<CampaignRow> = {};
  if (input.name !== undefined) row.name = checkedText(input.name, 255, 'name');
  if (input.labels !== undefined) row.labels = jsonColumn(input.labels, 'labels');
  if (input.message !== undefined) row.message = jsonColumn(input.message, 'message');
  if (input.audience !== undefined) row.audience = jsonColumn(input.audience, 'audience');
  if (input.schedule !== undefined) row.schedule = jsonColumn(input.schedule, 'schedule');
  if (input.rules !== undefined) row.rules = jsonColumn(input.rules, 'rules');
  return row;
}

/** Statuses whose occurrences are made and fired. */
export const ACTIVE: CampaignStatus[] = ['scheduled', 'running'];

export interface CampaignRepository {
  create(input: CampaignInput, now: number): Promise<Campaign>;
  get(id: string): Promise<Campaign | undefined>;
  list(request: { limit: number; cursor?: string; status?: CampaignStatus; label?: string }): Promise<Page<Campaign>>;
  /** Changes fields of a campaign in one of `statuses`; undefined when it is in another. */
  update(id: string, change: Partial<CampaignInput>, statuses: CampaignStatus[], now: number): Promise<Campaign | undefined>;
  /** Moves a campaign from one of `from` to `to` (with its next due time); undefined when it was in another status. */
  transition(id: string, from: CampaignStatus[], to: CampaignStatus, now: number, fields?: { nextAt?: number | null; launchedAt?: number }): Promise<Campaign | undefined>;
  /** Active campaigns with an occurrence due by `now`, oldest due first. */
  due(now: number, limit: number): Promise<Campaign[]>;
  /**
   * Records the occurrences due at `dueTimes` (once each, whoever else records them too) and moves
   * the campaign's next due time from `expectedNextAt` to `nextAt`; false when another process
   * moved it first (then that process recorded them).
   */
  advance(id: string, expectedNextAt: number, nextAt: number | null, dueTimes: number[], now: number): Promise<boolean>;
  /** Occurrences due by `now` that nobody fires: pending, or firing under a lease that ran out. */
  claimable(now: number, limit: number): Promise<Occurrence[]>;
  /** Takes the lease of an occurrence for `owner` until `until`; false when somebody else has it. */
  claim(id: number, owner: string, now: number, until: number): Promise<boolean>;
  /** Ends an occurrence held by `owner` with its final status; false when the lease was lost. */
  settle(id: number, owner: string, status: Exclude<OccurrenceStatus, 'pending' | 'firing'>, reason: string | null, now: number): Promise<boolean>;
  /** Gives an occurrence back (a failure worth trying again). */
  release(id: number, owner: string): Promise<void>;
  /** True when the campaign has an occurrence due later than `dueAt` and by `now`. */
  superseded(occurrence: Occurrence, now: number): Promise<boolean>;
  /** Cancels the occurrences of a campaign nobody fires; returns how many. */
  cancelPending(campaignId: string): Promise<number>;
  /** Completes active campaigns without a next occurrence once every occurrence has ended. */
  completeFinished(now: number): Promise<number>;
  occurrences(campaignId: string, request: { limit: number; cursor?: string }): Promise<Page<Occurrence>>;
  hasOccurrences(campaignId: string): Promise<boolean>;
  /** The user ids of test profiles (a test send's default audience), at most `limit`. */
  testUsers(limit: number): Promise<string[]>;
}

export function createCampaignRepository(db: Db): CampaignRepository {
  const get = async (id: string) => {
    const row = (await db('campaigns').where({ id }).first()) as CampaignRow | undefined;
    return row ? toCampaign(row) : undefined;
  };
  return {
    async create(input, now) {
      const row: CampaignRow = {
        id: crypto.randomUUID(),
        ...(columnsOf(input) as Required<Pick<CampaignRow, 'name' | 'labels' | 'message' | 'audience' | 'schedule' | 'rules'>>),
        status: 'draft',
        next_at: null,
        launched_at: null,
        created_at: now,
        updated_at: now,
      };
      await db('campaigns').insert(row);
      return toCampaign(row);
    },
    get,
    async list(request) {
      const query = db('campaigns').select('*');
      if (request.status) query.where({ status: request.status });
      // Labels hold no quotes or backslashes (the routes check), so the JSON text holds "label" exactly
      // so: found by position, case and all (LIKE differs between the databases in case and wildcards).
      if (request.label) query.whereRaw(`${isPostgres(db) ? 'strpos' : 'instr'}(labels, ?) > 0`, [JSON.stringify(request.label)]);
      return newestFirst<CampaignRow, Campaign>(query, 'created_at', request, toCampaign, 'uuid');
    },
    async update(id, change, statuses, now) {
      const updated = await db('campaigns')
        .where({ id })
        .whereIn('status', statuses)
        .update({ ...columnsOf(change), updated_at: now });
      return updated === 1 ? get(id) : undefined;
    },
    async transition(id, from, to, now, fields = {}) {
      const updated = await db('campaigns')
        .where({ id })
        .whereIn('status', from)
        .update({
          status: to,
          updated_at: now,
          ...(fields.nextAt !== undefined ? { next_at: fields.nextAt } : {}),
          ...(fields.launchedAt !== undefined ? { launched_at: fields.launchedAt } : {}),
        });
      return updated === 1 ? get(id) : undefined;
    },
    async due(now, limit) {
      const rows = (await db('campaigns').whereIn('status', ACTIVE).whereNotNull('next_at').andWhere('next_at', '<=', now).orderBy('next_at').limit(limit).select('*')) as CampaignRow[];
      return rows.map(toCampaign);
    },
    async advance(id, expectedNextAt, nextAt, dueTimes, now) {
      return db.transaction(async (trx) => {
        // The campaign row first: of two processes advancing at once, the second waits here and
        // then finds next_at moved, so it records nothing.
        const moved = await trx('campaigns')
          .where({ id, next_at: expectedNextAt })
          .whereIn('status', ACTIVE)
          .update({ next_at: nextAt, status: 'running', updated_at: now });
        if (moved !== 1) return false;
        if (dueTimes.length > 0) {
          await trx('campaign_occurrences')
            .insert(dueTimes.map((dueAt) => ({ campaign_id: id, due_at: dueAt, status: 'pending', notification_id: crypto.randomUUID(), created_at: now })))
            .onConflict(['campaign_id', 'due_at'])
            .ignore();
        }
        return true;
      });
    },
    async claimable(now, limit) {
      const rows = (await db('campaign_occurrences as o')
        .join('campaigns as c', 'c.id', 'o.campaign_id')
        .whereIn('c.status', ACTIVE)
        .andWhere('o.due_at', '<=', now)
        .andWhere((q) => q.where('o.status', 'pending').orWhere((expired) => expired.where('o.status', 'firing').andWhere('o.lease_until', '<', now)))
        .orderBy('o.due_at')
        .limit(limit)
        .select('o.*')) as OccurrenceRow[];
      return rows.map(toOccurrence);
    },
    async claim(id, owner, now, until) {
      const taken = await db('campaign_occurrences')
        .where({ id })
        .andWhere((q) => q.where('status', 'pending').orWhere((expired) => expired.where('status', 'firing').andWhere('lease_until', '<', now)))
        .update({ status: 'firing', lease_owner: owner, lease_until: until });
      return taken === 1;
    },
    async settle(id, owner, status, reason, now) {
      const done = await db('campaign_occurrences')
        .where({ id, status: 'firing', lease_owner: owner })
        .update({ status, reason: boundedText(reason, MAX_REASON), fired_at: status === 'fired' ? now : null, lease_owner: null, lease_until: null });
      return done === 1;
    },
    async release(id, owner) {
      await db('campaign_occurrences').where({ id, status: 'firing', lease_owner: owner }).update({ status: 'pending', lease_owner: null, lease_until: null });
    },
    async superseded(occurrence, now) {
      const later = await db('campaign_occurrences')
        .where({ campaign_id: occurrence.campaignId })
        .andWhere('due_at', '>', occurrence.dueAt)
        .andWhere('due_at', '<=', now)
        .first('id');
      return later !== undefined;
    },
    async cancelPending(campaignId) {
      return db('campaign_occurrences').where({ campaign_id: campaignId, status: 'pending' }).update({ status: 'cancelled' });
    },
    async completeFinished(now) {
      const open = db('campaign_occurrences').whereIn('status', ['pending', 'firing']).andWhere('campaign_id', db.ref('campaigns.id')).select(db.raw('1'));
      return db('campaigns').whereIn('status', ACTIVE).whereNull('next_at').whereNotExists(open).update({ status: 'completed', updated_at: now });
    },
    async hasOccurrences(campaignId) {
      return (await db('campaign_occurrences').where({ campaign_id: campaignId }).first('id')) !== undefined;
    },
    async testUsers(limit) {
      const rows = (await db('profiles').where({ test: true }).orderBy('user_id').limit(limit).select('user_id')) as Array<{ user_id: string }>;
      return rows.map((row) => row.user_id);
    },
    async occurrences(campaignId, request) {
      return newestFirst<OccurrenceRow, Occurrence>(db('campaign_occurrences').where({ campaign_id: campaignId }).select('*'), 'due_at', request, toOccurrence, 'bigint');
    },
  };
}
