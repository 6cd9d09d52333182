import type { Knex } from 'knex';
import { TRIGGER_LAG_MS } from '../campaigns/repository';
import { durationMs, eventMatches } from '../campaigns/schedule';
import { isPostgres } from '../db/connection';
import type { Channel } from '../devices/repository';
import { addToBucket } from './buckets';
import { MAX_GOAL_WINDOW_MS, type Goal } from './goal';

/** Events read per batch, and batches per round at most (a busy stream is caught up over rounds). */
const BATCH = 5000;
const BATCHES_PER_ROUND = 20;
/** Notification ids per IN list (both databases take far more; this keeps statements small). */
const ID_CHUNK = 500;
/** One goal event's revenue is kept within ±1e9: a sum of them stays finite on both databases. */
export const MAX_EVENT_REVENUE = 1e9;

export interface Attribution {
  /** Reads the events that arrived since the last round and records the conversions among them; returns how many. */
  round(now: number): Promise<number>;
}

interface GoalNotification {
  id: string;
  /** Last touch is chosen among the deliveries of one campaign (a plain send is its own). */
  group: string;
  goal: Goal;
  withinMs: number;
  createdAt: number;
}

interface Conversion {
  notificationId: string;
  userKey: string;
  eventId: number;
  deliveryId: number;
  channel: Channel;
  at: number;
  revenue: number | null;
}

/** A goal event's revenue: its property as a finite number (a numeric string counts too). */
function revenueOf(goal: Goal, properties: Record<string, unknown> | null): number | null {
  if (!goal.revenueProperty || !properties || !Object.hasOwn(properties, goal.revenueProperty)) return null;
  const value = properties[goal.revenueProperty];
  const amount = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  // Events come from pages too (SafariPush.track): an absurd amount cannot overflow the sums.
  return Number.isFinite(amount) ? Math.max(-MAX_EVENT_REVENUE, Math.min(MAX_EVENT_REVENUE, amount)) : null;
}

/**
 * Conversions, kept as events arrive. Every process runs a round with the campaign scheduler; the
 * rounds agree through a watermark (the id of the last event read), moved by a conditional UPDATE
 * in the transaction that records what was read, so each event is attributed once.
 *
 * The rule (docs/results.md): an event converts for a notification with a goal when it is the
 * goal's event (and meets its `where`), by the user a delivery of it was sent to (or, for
 * `"after": "click"`, who clicked it; for a control group, who was held out), within the goal's
 * window after that. Among one campaign's deliveries to the user the latest one gets it (last
 * touch); a plain send is a campaign of its own. A user counts once per notification as converted;
 * revenue sums the goal property over every goal event credited to it.
 */
export function createAttribution(db: Knex): Attribution {
  const lag = isPostgres(db) ? TRIGGER_LAG_MS : 0;

  /**
   * The notifications with a goal of one of `names`, created in [from, to]: through the partial
   * (goal_event, created_at) index, grouped by event name.
   */
  const goals = async (names: string[], from: number, to: number): Promise<Map<string, GoalNotification[]>> => {
    const byName = new Map<string, GoalNotification[]>();
    if (names.length === 0) return byName;
    const rows = (await db('notifications')
      .whereIn('goal_event', names)
      .andWhere('created_at', '>=', from)
      .andWhere('created_at', '<=', to)
      .andWhere('test', false)
      .select('id', 'campaign_id', 'goal', 'created_at')) as Array<{ id: string; campaign_id: string | null; goal: string; created_at: number | string }>;
    for (const row of rows) {
      const goal = JSON.parse(row.goal) as Goal;
      const list = byName.get(goal.event) ?? byName.set(goal.event, []).get(goal.event) ?? [];
      list.push({ id: row.id, group: row.campaign_id ?? row.id, goal, withinMs: durationMs(goal.within), createdAt: Number(row.created_at) });
    }
    return byName;
  };

  /** The conversions among the events in (after, through]. */
  const attribute = async (after: number, through: number, now: number): Promise<Conversion[]> => {
    // Only names some notification of the last 31 days has as its goal are read at all.
    const recent = (await db('notifications').whereNotNull('goal_event').andWhere('created_at', '>=', now - MAX_GOAL_WINDOW_MS - 86_400_000).distinct('goal_event')) as Array<{ goal_event: string }>;
    const names = recent.map((row) => row.goal_event);
    if (names.length === 0) return [];
    const events = (await db('events').whereIn('name', names).andWhere('id', '>', after).andWhere('id', '<=', through).orderBy('id').select('id', 'name', 'user_id', 'device_id', 'time', 'properties')) as Array<{
      id: number | string;
      name: string;
      user_id: string | null;
      device_id: number | string | null;
      time: number | string;
      properties: string | Record<string, unknown> | null;
    }>;
    if (events.length === 0) return [];
    // The notifications those events could convert for: created up to 30 days before the earliest.
    const times = events.map((event) => Number(event.time));
    const candidates = await goals([...new Set(events.map((event) => event.name))], Math.min(...times) - MAX_GOAL_WINDOW_MS, Math.max(...times));
    const conversions: Conversion[] = [];
    type Touched = { id: number | string; notification_id: string; outcome: 'sent' | 'held_out'; updated_at: number | string; clicked_at: number | string | null; channel: Channel };
    for (const event of events) {
      const time = Number(event.time);
      const properties = typeof event.properties === 'string' ? (JSON.parse(event.properties) as Record<string, unknown>) : event.properties;
      const matching = (candidates.get(event.name) ?? []).filter((c) => c.createdAt <= time && time - c.createdAt <= MAX_GOAL_WINDOW_MS + c.withinMs && eventMatches(c.goal.where, properties));
      if (matching.length === 0 || (event.user_id === null && event.device_id === null)) continue;
      const byId = new Map(matching.map((c) => [c.id, c]));
      const ids = [...byId.keys()];
      const touched: Touched[] = [];
      for (let i = 0; i < ids.length; i += ID_CHUNK) {
        const query = db('deliveries as dl').whereIn('dl.notification_id', ids.slice(i, i + ID_CHUNK)).whereIn('dl.outcome', ['sent', 'held_out']);
        if (event.user_id !== null) query.join('devices as dv', 'dv.id', 'dl.device_id').where('dv.user_id', event.user_id);
        else query.where('dl.device_id', event.device_id);
        touched.push(...((await query.select('dl.id', 'dl.notification_id', 'dl.outcome', 'dl.updated_at', 'dl.clicked_at', 'dl.channel')) as Touched[]));
      }
      // The latest touch within the window, per campaign.
      const latest = new Map<string, { touch: number; row: (typeof touched)[number]; goal: GoalNotification }>();
      for (const row of touched) {
        const goal = byId.get(row.notification_id) as GoalNotification;
        // Held out: from the moment the others were sent (a control group cannot click).
        const touch = row.outcome === 'held_out' || goal.goal.after === 'sent' ? Number(row.updated_at) : row.clicked_at === null ? undefined : Number(row.clicked_at);
        if (touch === undefined || touch > time || time - touch > goal.withinMs) continue;
        const best = latest.get(goal.group);
        if (!best || touch > best.touch || (touch === best.touch && Number(row.id) > Number(best.row.id))) latest.set(goal.group, { touch, row, goal });
      }
      for (const { row, goal } of latest.values()) {
        conversions.push({
          notificationId: row.notification_id,
          userKey: event.user_id !== null ? `u:${event.user_id}` : `d:${event.device_id}`,
          eventId: Number(event.id),
          deliveryId: Number(row.id),
          channel: row.channel,
          at: time,
          revenue: revenueOf(goal.goal, properties),
        });
      }
    }
    return conversions;
  };

  /** Moves the watermark from `after` to `through` and records the conversions, or nothing when another process moved it first. */
  const record = (after: number, through: number, conversions: Conversion[], now: number): Promise<boolean> =>
    db.transaction(async (trx) => {
      const moved = await trx('result_watermarks').where({ name: 'conversions', after }).update({ after: through });
      if (moved !== 1) return false;
      for (const c of conversions) {
        const first = (await trx('conversions').where({ notification_id: c.notificationId, user_key: c.userKey }).first('id')) === undefined;
        await trx('conversions').insert({ notification_id: c.notificationId, user_key: c.userKey, event_id: c.eventId, delivery_id: c.deliveryId, channel: c.channel, at: c.at, revenue: c.revenue, created_at: now });
        await trx('notifications')
          .where({ id: c.notificationId })
          .update({ converted_count: trx.raw('converted_count + ?', [first ? 1 : 0]), revenue: trx.raw('revenue + ?', [c.revenue ?? 0]) });
        await addToBucket(trx, c.notificationId, c.channel, c.at, { converted: first ? 1 : 0, revenue: c.revenue ?? 0 });
      }
      return true;
    });

  return {
    async round(now) {
      let recorded = 0;
      for (let batch = 0; batch < BATCHES_PER_ROUND; batch++) {
        const row = (await db('result_watermarks').where({ name: 'conversions' }).first('after')) as { after: number | string } | undefined;
        if (!row) return recorded;
        const after = Number(row.after);
        // How far it is safe to look: on PostgreSQL ids are taken at insert and may commit out of
        // order, so only events older than TRIGGER_LAG_MS (as the campaign triggers do).
        const scanned = (await db('events').where('id', '>', after).orderBy('id').limit(BATCH).select('id', 'created_at')) as Array<{ id: number | string; created_at: number | string }>;
        let through = after;
        for (const event of scanned) {
          if (Number(event.created_at) > now - lag) break;
          through = Number(event.id);
        }
        if (through === after) return recorded;
        const conversions = await attribute(after, through, now);
        if (await record(after, through, conversions, now)) recorded += conversions.length;
        if (scanned.length < BATCH) return recorded;
      }
      return recorded;
    },
  };
}
