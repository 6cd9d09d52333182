import crypto from 'node:crypto';
import { isPostgres, type Db } from '../db/connection';
import { newestFirst, type Page } from '../db/pagination';
import { boundedText, checkedText } from '../db/text';
import type { Audience, Message } from '../notifications/routes';
import type { CampaignResults } from '../results/goal';
import type { Rules } from './rules';
import { leadOf, type Schedule } from './schedule';
import type { PlannedSend } from './zones';

export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
/**
 * pending: due, not fired yet; firing: a process holds its lease; fired: an occurrence's sends are
 * set (for local time and quiet hours, several over hours), a send's notification exists and is
 * queued; missed: not sent (its cutoff passed, or a later occurrence was due already);
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
  /** Goal, control group, A/B variants and winner (docs/results.md); {} when none. */
  results: CampaignResults;
}

export interface Campaign extends CampaignInput {
  id: string;
  status: CampaignStatus;
  /** How long before its due time an occurrence is planned (local time: 27 hours). */
  leadMs: number;
  /** A triggered campaign: the id of the last event it has looked at. */
  triggerAfter: number | null;
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

/** One send of an occurrence (several for local time and quiet hours), each its own notification. */
export interface OccurrenceSend {
  id: number;
  occurrenceId: number;
  campaignId: string;
  dueAt: number;
  /** winner: an A/B test's second step, the best variant to the rest of the audience. */
  kind: 'send' | 'skip' | 'winner';
  skipReason: string | null;
  zones: string[] | null;
  othersThan: string[] | null;
  slice: { count: number; index: number } | null;
  status: OccurrenceStatus;
  notificationId: string;
  /** A winner send: the id of the send whose variant notifications it compares. */
  testNotificationId: string | null;
  reason: string | null;
  firedAt: number | null;
}

interface SendRow {
  id: number | string;
  occurrence_id: number | string;
  campaign_id: string;
  due_at: number | string;
  kind: 'send' | 'skip' | 'winner';
  skip_reason: string | null;
  test_notification_id?: string | null;
  zones: string | null;
  others_than: string | null;
  slice_count?: number | string;
  slice_index?: number | string;
  status: OccurrenceStatus;
  notification_id: string;
  reason: string | null;
  fired_at: number | string | null;
}

const toSend = (row: SendRow): OccurrenceSend => ({
  id: Number(row.id),
  occurrenceId: Number(row.occurrence_id),
  campaignId: row.campaign_id,
  dueAt: Number(row.due_at),
  kind: row.kind,
  skipReason: row.skip_reason,
  zones: row.zones === null ? null : (JSON.parse(row.zones) as string[]),
  othersThan: row.others_than === null ? null : (JSON.parse(row.others_than) as string[]),
  slice: Number(row.slice_count ?? 1) > 1 ? { count: Number(row.slice_count), index: Number(row.slice_index) } : null,
  status: row.status,
  notificationId: row.notification_id,
  testNotificationId: row.test_notification_id ?? null,
  reason: row.reason,
  firedAt: row.fired_at === null ? null : Number(row.fired_at),
});

/** The two tables whose rows are fired under a lease: occurrences (planned) and their sends (sent). */
export type LeasedTable = 'campaign_occurrences' | 'occurrence_sends' | 'campaign_triggers';

/** One event that triggered a campaign: sent to its user once due (the event's time plus the delay). */
export interface TriggerEntry {
  id: number;
  campaignId: string;
  userId: string;
  eventId: number;
  eventTime: number;
  event: { name: string; properties: Record<string, unknown> | null };
  dueAt: number;
  status: OccurrenceStatus;
  notificationId: string;
  reason: string | null;
  firedAt: number | null;
}

interface TriggerRow {
  id: number | string;
  campaign_id: string;
  user_id: string;
  event_id: number | string;
  event_time: number | string;
  event: string;
  due_at: number | string;
  status: OccurrenceStatus;
  notification_id: string;
  reason: string | null;
  fired_at: number | string | null;
}

const toTrigger = (row: TriggerRow): TriggerEntry => ({
  id: Number(row.id),
  campaignId: row.campaign_id,
  userId: row.user_id,
  eventId: Number(row.event_id),
  eventTime: Number(row.event_time),
  event: JSON.parse(row.event) as TriggerEntry['event'],
  dueAt: Number(row.due_at),
  status: row.status,
  notificationId: row.notification_id,
  reason: row.reason,
  firedAt: row.fired_at === null ? null : Number(row.fired_at),
});

/** An event as a trigger reads it. */
export interface TriggeringEvent {
  id: number;
  name: string;
  userId: string | null;
  time: number;
  properties: Record<string, unknown> | null;
}

/**
 * How young an event may be before triggers look at it, on PostgreSQL: ids are taken at insert,
 * and a transaction may commit after one that took a later id. Looking only at events stored
 * this long ago keeps the watermark from passing one not yet visible. SQLite commits in id order.
 */
export const TRIGGER_LAG_MS = 5000;

interface CampaignRow {
  id: string;
  lead_ms?: number | string;
  trigger_event?: string | null;
  trigger_after?: number | string | null;
  name: string;
  labels: string;
  message: string;
  audience: string;
  schedule: string;
  rules: string;
  results?: string | null;
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
  results: row.results ? (JSON.parse(row.results) as CampaignResults) : {},
  status: row.status,
  leadMs: Number(row.lead_ms ?? 0),
  triggerAfter: row.trigger_after === null || row.trigger_after === undefined ? null : Number(row.trigger_after),
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
const MAX_JSON = { labels: 4096, message: 65_536, audience: 1_048_576, schedule: 16_384, rules: 4096, zones: 65_536, results: 393_216 };
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
  if (input.schedule !== undefined) {
    row.schedule = jsonColumn(input.schedule, 'schedule');
    row.lead_ms = leadOf(input.schedule);
    row.trigger_event = input.schedule.type === 'event' ? input.schedule.event : null;
  }
  if (input.rules !== undefined) row.rules = jsonColumn(input.rules, 'rules');
  if (input.results !== undefined) row.results = jsonColumn(input.results, 'results');
  return row;
}

/** Statuses whose occurrences are made and fired. */
export const ACTIVE: CampaignStatus[] = ['scheduled', 'running'];

export interface CampaignRepository {
  create(input: CampaignInput, now: number): Promise<Campaign>;
  get(id: string): Promise<Campaign | undefined>;
  list(request: { limit: number; cursor?: string; status?: CampaignStatus; label?: string }): Promise<Page<Campaign>>;
  /**
   * Changes fields of a campaign in one of `statuses` (and its next due time, when given), in one
   * statement; undefined when it is in another status. A changed schedule cancels the occurrences
   * the old one had recorded and not planned yet, in the same transaction.
   */
  update(id: string, change: Partial<CampaignInput>, statuses: CampaignStatus[], now: number, nextAt?: number | null): Promise<Campaign | undefined>;
  /** Moves a campaign from one of `from` to `to` (with its next due time); undefined when it was in another status. */
  transition(id: string, from: CampaignStatus[], to: CampaignStatus, now: number, fields?: { nextAt?: number | null; launchedAt?: number; triggerAfter?: number }): Promise<Campaign | undefined>;
  /** Active campaigns with an occurrence due by `now`, oldest due first. */
  due(now: number, limit: number): Promise<Campaign[]>;
  /**
   * Records the occurrences due at `dueTimes` (once each, whoever else records them too) and moves
   * the campaign's next due time from `expectedNextAt` to `nextAt`; false when another process
   * moved it first (then that process recorded them).
   */
  advance(id: string, expectedNextAt: number, nextAt: number | null, dueTimes: number[], now: number, leadMs?: number): Promise<boolean>;
  /** Occurrences to plan by `now` that nobody plans: pending, or firing under a lease that ran out. */
  claimable(now: number, limit: number): Promise<Occurrence[]>;
  /** Sends due by `now` that nobody fires, as claimable. */
  claimableSends(now: number, limit: number): Promise<OccurrenceSend[]>;
  /** Takes the lease of an occurrence (or send) for `owner` until `until`; false when somebody else has it. */
  claim(id: number, owner: string, now: number, until: number, table?: LeasedTable): Promise<boolean>;
  /** Ends an occurrence (or send) held by `owner` with its final status; false when the lease was lost. */
  settle(id: number, owner: string, status: Exclude<OccurrenceStatus, 'pending' | 'firing'>, reason: string | null, now: number, table?: LeasedTable): Promise<boolean>;
  /**
   * Gives an occurrence (or send, or trigger entry) back: a failure worth trying again, or, with
   * `dueAt`, a send or entry that waits until then (quiet hours).
   */
  release(id: number, owner: string, table?: LeasedTable, dueAt?: number): Promise<void>;
  /**
   * Sets the sends of an occurrence `owner` holds and marks it fired, in one transaction; false
   * (nothing stored) when the lease was lost. A send to everyone takes the occurrence's notification id.
   */
  plan(occurrence: Occurrence, owner: string, sends: PlannedSend[], now: number): Promise<boolean>;
  /** The sends of some occurrences, in due order. */
  sendsOf(occurrenceIds: number[]): Promise<OccurrenceSend[]>;
  /** True while a send of the campaign is being fired, or a winner send waits: its parts are fixed. */
  hasOpenSplit(campaignId: string): Promise<boolean>;
  /** Adds the winner send of an A/B test's send (once, however often it is asked). */
  addWinnerSend(test: OccurrenceSend, dueAt: number, notificationId: string, now: number): Promise<void>;
  /** The time zones profiles and devices name now (at most 2,000). */
  knownZones(): Promise<string[]>;
  /** A user's zone: their profile's, else their newest device's, else undefined. */
  zoneOf(userId: string): Promise<string | undefined>;
  /** Active triggered campaigns. */
  triggered(): Promise<Campaign[]>;
  /** The highest event id now (where a launched trigger starts looking). */
  lastEventId(): Promise<number>;
  /** Events named `name` after id `after`, in id order, only as far as is safe to look (TRIGGER_LAG_MS). */
  eventsAfter(name: string, after: number, limit: number, now: number): Promise<{ events: TriggeringEvent[]; through: number }>;
  /** When the user's latest entry of the campaign was triggered, if any. */
  lastEntryAt(campaignId: string, userId: string): Promise<number | undefined>;
  /** Stores entries and moves the campaign's watermark from `expected` to `through`; false when another process moved it first. */
  recordTriggers(campaignId: string, expected: number, through: number, entries: Array<Omit<TriggerEntry, 'id' | 'status' | 'notificationId' | 'reason' | 'firedAt'>>, now: number): Promise<boolean>;
  claimableTriggers(now: number, limit: number): Promise<TriggerEntry[]>;
  triggersOf(campaignId: string, request: { limit: number; cursor?: string }): Promise<Page<TriggerEntry>>;
  /** True when the user has an event named `name`, stored after event `afterId`, with a time in [from, to]. */
  didEvent(userId: string, name: string, from: number, to: number, afterId: number): Promise<boolean>;
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
  /** Rows of an active campaign due by `now` that nobody holds: pending, or firing under a lease that ran out. */
  const claimableRows = (table: LeasedTable, due: 'due_at' | 'plan_at', now: number, limit: number) =>
    db(`${table} as r`)
      .join('campaigns as c', 'c.id', 'r.campaign_id')
      .whereIn('c.status', ACTIVE)
      .andWhere(`r.${due}`, '<=', now)
      .andWhere((q) => q.where('r.status', 'pending').orWhere((expired) => expired.where('r.status', 'firing').andWhere('r.lease_until', '<', now)))
      .orderBy(`r.${due}`)
      .limit(limit)
      .select('r.*');
  return {
    async create(input, now) {
      const row: CampaignRow = {
        id: crypto.randomUUID(),
        ...(columnsOf(input) as Required<Pick<CampaignRow, 'name' | 'labels' | 'message' | 'audience' | 'schedule' | 'rules' | 'results'>>),
        status: 'draft',
        lead_ms: leadOf(input.schedule),
        trigger_event: input.schedule.type === 'event' ? input.schedule.event : null,
        trigger_after: null,
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
    async update(id, change, statuses, now, nextAt) {
      const updated = await db.transaction(async (trx) => {
        const changed = await trx('campaigns')
          .where({ id })
          .whereIn('status', statuses)
          .update({ ...columnsOf(change), ...(nextAt !== undefined ? { next_at: nextAt } : {}), updated_at: now });
        if (changed === 1 && change.schedule) {
          for (const table of ['campaign_occurrences', 'campaign_triggers']) await trx(table).where({ campaign_id: id, status: 'pending' }).update({ status: 'cancelled', reason: 'the schedule was changed' });
        }
        return changed;
      });
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
          ...(fields.triggerAfter !== undefined ? { trigger_after: fields.triggerAfter } : {}),
        });
      return updated === 1 ? get(id) : undefined;
    },
    async due(now, limit) {
      const rows = (await db('campaigns').whereIn('status', ACTIVE).whereNotNull('next_at').andWhereRaw('next_at - lead_ms <= ?', [now]).orderBy('next_at').limit(limit).select('*')) as CampaignRow[];
      return rows.map(toCampaign);
    },
    async advance(id, expectedNextAt, nextAt, dueTimes, now, leadMs = 0) {
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
            .insert(dueTimes.map((dueAt) => ({ campaign_id: id, due_at: dueAt, plan_at: dueAt - leadMs, status: 'pending', notification_id: crypto.randomUUID(), created_at: now })))
            .onConflict(['campaign_id', 'due_at'])
            .ignore();
        }
        return true;
      });
    },
    async claimable(now, limit) {
      return ((await claimableRows('campaign_occurrences', 'plan_at', now, limit)) as OccurrenceRow[]).map(toOccurrence);
    },
    async claimableSends(now, limit) {
      return ((await claimableRows('occurrence_sends', 'due_at', now, limit)) as SendRow[]).map(toSend);
    },
    async plan(occurrence, owner, sends, now) {
      return db.transaction(async (trx) => {
        const marked = await trx('campaign_occurrences')
          .where({ id: occurrence.id, status: 'firing', lease_owner: owner })
          .update({ status: 'fired', fired_at: now, lease_owner: null, lease_until: null });
        if (marked !== 1) return false;
        const single = sends.length === 1 && sends[0].zones === null && !sends[0].slice;
        const rows = sends.map((send) => ({
            occurrence_id: occurrence.id,
            campaign_id: occurrence.campaignId,
            due_at: send.dueAt,
            kind: send.kind,
            skip_reason: send.skipReason ?? null,
            zones: send.zones === null ? null : jsonColumn(send.zones, 'zones'),
            others_than: send.othersThan ? jsonColumn(send.othersThan, 'zones') : null,
            slice_count: send.slice?.count ?? 1,
            slice_index: send.slice?.index ?? 0,
            status: 'pending',
            notification_id: single ? occurrence.notificationId : crypto.randomUUID(),
            created_at: now,
          }));
        // In slices: a throttled occurrence may have thousands of sends, more than one statement takes.
        for (let i = 0; i < rows.length; i += 100) await trx('occurrence_sends').insert(rows.slice(i, i + 100));
        return true;
      });
    },
    async hasOpenSplit(campaignId) {
      const open = await db('occurrence_sends')
        .where({ campaign_id: campaignId })
        .andWhere((q) => q.where({ status: 'firing' }).orWhere((w) => w.where({ kind: 'winner' }).whereIn('status', ['pending', 'firing'])))
        .first('id');
      return open !== undefined;
    },
    async addWinnerSend(test, dueAt, notificationId, now) {
      await db('occurrence_sends')
        .insert({
          occurrence_id: test.occurrenceId,
          campaign_id: test.campaignId,
          due_at: dueAt,
          kind: 'winner',
          skip_reason: null,
          zones: test.zones === null ? null : jsonColumn(test.zones, 'zones'),
          others_than: test.othersThan ? jsonColumn(test.othersThan, 'zones') : null,
          slice_count: test.slice?.count ?? 1,
          slice_index: test.slice?.index ?? 0,
          status: 'pending',
          notification_id: notificationId,
          test_notification_id: test.notificationId,
          created_at: now,
        })
        // Any of its unique keys (its notification id, its place in the occurrence): it exists already.
        .onConflict()
        .ignore();
    },
    async sendsOf(occurrenceIds) {
      if (occurrenceIds.length === 0) return [];
      const rows = (await db('occurrence_sends').whereIn('occurrence_id', occurrenceIds).orderBy('due_at').orderBy('id').select('*')) as SendRow[];
      return rows.map(toSend);
    },
    async zoneOf(userId) {
      const profile = (await db('profiles').where({ user_id: userId }).first('timezone')) as { timezone: string | null } | undefined;
      if (profile?.timezone) return profile.timezone;
      const device = (await db('devices').where({ user_id: userId }).whereNotNull('timezone').orderBy('id', 'desc').first('timezone')) as { timezone: string } | undefined;
      return device?.timezone;
    },
    async triggered() {
      return ((await db('campaigns').whereIn('status', ACTIVE).whereNotNull('trigger_event').select('*')) as CampaignRow[]).map(toCampaign);
    },
    async lastEventId() {
      const [{ last }] = (await db('events').max({ last: 'id' })) as Array<{ last: number | string | null }>;
      return Number(last ?? 0);
    },
    async eventsAfter(name, after, limit, now) {
      // First how far it is safe to look (ids and times only, every name), then that range's events of the name.
      const scanned = (await db('events').where('id', '>', after).orderBy('id').limit(limit).select('id', 'created_at')) as Array<{ id: number | string; created_at: number | string }>;
      const lag = isPostgres(db) ? TRIGGER_LAG_MS : 0;
      let through = after;
      for (const row of scanned) {
        // Up to the first event too young to be sure every earlier id is visible.
        if (Number(row.created_at) > now - lag) break;
        through = Number(row.id);
      }
      if (through === after) return { events: [], through };
      const rows = (await db('events').where({ name }).andWhere('id', '>', after).andWhere('id', '<=', through).orderBy('id').select('id', 'name', 'user_id', 'time', 'properties')) as Array<{
        id: number | string;
        name: string;
        user_id: string | null;
        time: number | string;
        properties: string | Record<string, unknown> | null;
      }>;
      const events = rows.map((row) => ({ id: Number(row.id), name: row.name, userId: row.user_id, time: Number(row.time), properties: typeof row.properties === 'string' ? (JSON.parse(row.properties) as Record<string, unknown>) : row.properties }));
      return { events, through };
    },
    async lastEntryAt(campaignId, userId) {
      const [{ last }] = (await db('campaign_triggers').where({ campaign_id: campaignId, user_id: userId }).max({ last: 'event_time' })) as Array<{ last: number | string | null }>;
      return last === null ? undefined : Number(last);
    },
    async recordTriggers(campaignId, expected, through, entries, now) {
      return db.transaction(async (trx) => {
        const moved = await trx('campaigns').where({ id: campaignId, trigger_after: expected }).whereIn('status', ACTIVE).update({ trigger_after: through });
        if (moved !== 1) return false;
        for (let i = 0; i < entries.length; i += 200) {
          await trx('campaign_triggers')
            .insert(
              entries.slice(i, i + 200).map((entry) => ({
                campaign_id: campaignId,
                user_id: checkedText(entry.userId, 255, 'userId'),
                event_id: entry.eventId,
                event_time: entry.eventTime,
                event: checkedText(JSON.stringify(entry.event), 16_384, 'event'),
                due_at: entry.dueAt,
                status: 'pending',
                notification_id: crypto.randomUUID(),
                created_at: now,
              })),
            )
            .onConflict(['campaign_id', 'event_id'])
            .ignore();
        }
        return true;
      });
    },
    async claimableTriggers(now, limit) {
      return ((await claimableRows('campaign_triggers', 'due_at', now, limit)) as TriggerRow[]).map(toTrigger);
    },
    async triggersOf(campaignId, request) {
      return newestFirst<TriggerRow, TriggerEntry>(db('campaign_triggers').where({ campaign_id: campaignId }).select('*'), 'due_at', request, toTrigger, 'bigint');
    },
    async didEvent(userId, name, from, to, afterId) {
      // The same time counts (a page sends both events in one call, stamped alike); an earlier id does not.
      return (await db('events').where({ name, user_id: userId }).andWhere('time', '>=', from).andWhere('time', '<=', to).andWhere('id', '>', afterId).first('id')) !== undefined;
    },
    async knownZones() {
      const rows = (await db
        .select('timezone')
        .from('profiles')
        .whereNotNull('timezone')
        .union((q) => q.select('timezone').from('devices').whereNotNull('timezone'))
        .limit(2000)) as Array<{ timezone: string }>;
      return [...new Set(rows.map((row) => row.timezone))];
    },
    async claim(id, owner, now, until, table = 'campaign_occurrences') {
      const taken = await db(table)
        .where({ id })
        .andWhere((q) => q.where('status', 'pending').orWhere((expired) => expired.where('status', 'firing').andWhere('lease_until', '<', now)))
        .update({ status: 'firing', lease_owner: owner, lease_until: until });
      return taken === 1;
    },
    async settle(id, owner, status, reason, now, table = 'campaign_occurrences') {
      const done = await db(table)
        .where({ id, status: 'firing', lease_owner: owner })
        .update({ status, reason: boundedText(reason, MAX_REASON), fired_at: status === 'fired' ? now : null, lease_owner: null, lease_until: null });
      return done === 1;
    },
    async release(id, owner, table = 'campaign_occurrences', dueAt) {
      await db(table)
        .where({ id, status: 'firing', lease_owner: owner })
        .update({ status: 'pending', lease_owner: null, lease_until: null, ...(dueAt !== undefined ? { due_at: dueAt } : {}) });
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
      // Firing ones too: a lease left by a dead process would otherwise stay (a live firer's settle then fails, harmlessly).
      const cancel = (table: LeasedTable) => db(table).where({ campaign_id: campaignId }).whereIn('status', ['pending', 'firing']).update({ status: 'cancelled', lease_owner: null, lease_until: null });
      return (await cancel('occurrence_sends')) + (await cancel('campaign_occurrences')) + (await cancel('campaign_triggers'));
    },
    async completeFinished(now) {
      const open = (table: LeasedTable) => db(table).whereIn('status', ['pending', 'firing']).andWhere('campaign_id', db.ref('campaigns.id')).select(db.raw('1'));
      // Triggered campaigns run until paused or cancelled: there is always a next event.
      return db('campaigns')
        .whereIn('status', ACTIVE)
        .whereNull('next_at')
        .whereNull('trigger_event')
        .whereNotExists(open('campaign_occurrences'))
        .whereNotExists(open('occurrence_sends'))
        .update({ status: 'completed', updated_at: now });
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
