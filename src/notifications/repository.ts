import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { bucketSql, isPostgres } from '../db/connection';
import { addReason, addToBucket } from '../results/buckets';
import type { Goal } from '../results/goal';
import { newestFirst, type Page } from '../db/pagination';
import { boundedText, checkedText } from '../db/text';
import type { Channel, PushSubscription } from '../devices/repository';
import { badRequest } from '../errors';
import type { Filter } from '../audience/filter';
import { whereFilter } from '../audience/segments';
import type { Recipient } from './personalize';
import type { AttributeValue } from '../audience/values';

export type NotificationStatus = 'queued' | 'sending' | 'completed' | 'failed';
/**
 * Who gets a notification; `channels` (default: all) restricts it to Safari or Web Push devices.
 * A filter (given, or a saved segment's, copied when the send is created) is evaluated at `at`:
 * relative times ("within the last 7 days") and the events that count are fixed then.
 */
export type Target = ({ tokens: string[] } | { users: string[] } | { all: true } | { filter: Filter; at: number; segment?: string }) & {
  channels?: Channel[];
  zones?: ZoneSlice;
  /** A throttled campaign's slice: the devices whose id leaves `index` when divided by `count`. */
  slice?: { count: number; index: number };
  /**
   * A date reminder's day: users whose profile attribute is that date (`YYYY-MM-DD`), or a
   * date-time within [from, to) (the day in their zone, as UTC ISO times).
   */
  dateAttribute?: { name: string; day: string; from: string; to: string };
  /**
   * A campaign's part (control group, A/B variant, winner): the devices whose user's bucket,
   * bucketOf(`key` + user key), is in [from, to). The user key is `u:<user id>`, or `d:<device id>`
   * for a device without a user, so all of a user's devices fall in one part.
   */
  split?: { key: string; from: number; to: number };
};
/**
 * A campaign's send in local time or around quiet hours takes the devices of some time zones: a
 * device's zone is its user's profile zone, else its own, else `fallback`. With `othersThan` it
 * also takes every device whose zone is not among those (zones unknown when the sends were set).
 */
export interface ZoneSlice {
  in: string[];
  fallback: string;
  othersThan?: string[];
}
/**
 * skipped: the device was meant to get no message (quiet hours, a frequency cap, a cutoff); `reason`
 * says which. held_out: its user is in a campaign's control group, kept from the message on purpose.
 */
export type Outcome = 'pending' | 'sent' | 'failed' | 'removed' | 'skipped' | 'held_out';
export const OUTCOMES: Outcome[] = ['pending', 'sent', 'failed', 'removed', 'skipped', 'held_out'];

/** What a backend asked to send. */
export interface NotificationInput {
  title: string;
  body: string;
  action?: string;
  urlArgs: string[];
  target: Target;
  expiration?: number;
  priority: 5 | 10;
  collapseId?: string;
  /** Web Push: the icon shown with the notification (Safari uses the package's icon). */
  icon?: string;
  /** Web Push only: what Safari's legacy channel cannot show (see WebPushOptions). */
  webPush?: WebPushOptions;
  /** Counts toward FREQUENCY_CAPS and is skipped for users over them (campaigns by default; API sends opt in). */
  respectCaps?: boolean;
  /** More data its templates see besides user and device: a triggered campaign's `event`. */
  templateData?: Record<string, unknown>;
  /** What counts as a conversion (results/goal.ts): measured for this notification's users. */
  goal?: Goal;
}

/** One frequency cap: at most `count` capped notifications per user in any `windowMs`. */
export interface FrequencyCap {
  count: number;
  windowMs: number;
}

/** A button of a Web Push notification: its own text, page and icon. */
export interface WebPushAction {
  title: string;
  url: string;
  icon?: string;
}

/** What the send API adds for Web Push (docs/send-api.md, "Rich Web Push"). */
export interface WebPushOptions {
  /** The page a click opens; default: urlFormatString filled with urlArgs. */
  url?: string;
  image?: string;
  badge?: string;
  requireInteraction?: boolean;
  silent?: boolean;
  renotify?: boolean;
  /** Milliseconds since 1970 shown as the notification's time. */
  timestamp?: number;
  lang?: string;
  dir?: 'auto' | 'ltr' | 'rtl';
  data?: Record<string, unknown>;
  actions?: WebPushAction[];
  appBadge?: number;
}

export interface StoredNotification extends NotificationInput {
  id: string;
  /** The campaign whose occurrence (or test send) this is; null for a send of the send API. */
  campaignId: string | null;
  /** A test send: to test profiles, outside caps and quiet hours. */
  test: boolean;
  /** The campaign's A/B variant this notification carries; null when the campaign has none. */
  variant: string | null;
  /** The campaign's control group: every device held out, none sent. */
  control: boolean;
  /** A winner send: the variant that did best, to the rest of the audience. */
  winner: boolean;
  /** The scheduled occurrence it belongs to (null: the send API, a test send, a trigger entry). */
  occurrenceId: number | null;
  /** Distinct users it reached (sent; held out, for a control group): counted when it completes, for notifications with a goal. */
  usersReached: number | null;
  status: NotificationStatus;
  targeted: number;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** `clickedActions[i]`: clicks on the notification's button i (a delivery's first click counts). */
export type OutcomeCounts = Record<Outcome, number> & { clicked: number; clickedActions: number[]; shown: number; converted: number; revenue: number };
/** How many deliveries got each final outcome. */
export type FinalCounts = Record<Exclude<Outcome, 'pending'>, number>;

export interface Delivery {
  id: number;
  deviceId: number | null;
  notificationId: string;
  token: string;
  channel: Channel;
  /** Web Push: where and how to send (read from the device when the delivery is handed out). */
  subscription?: PushSubscription;
  outcome: Outcome;
  status: number | null;
  reason: string | null;
  attempts: number;
  updatedAt: number;
  clickedAt: number | null;
  /** Which button the click came from (0-based); null for the notification itself or no click. */
  clickedAction: number | null;
  /** Web Push: when its service worker reported the notification shown. */
  shownAt: number | null;
  /** Personalized sends: who the device belongs to (read when the delivery is handed to the sender). */
  recipient?: Recipient;
}

/** The final word on one delivery. */
export interface OutcomeRecord {
  notificationId: string;
  deliveryId: number;
  channel: Channel;
  outcome: Exclude<Outcome, 'pending'>;
  status: number | null;
  reason: string | null;
  attempts: number;
}

interface NotificationRow {
  id: string;
  status: NotificationStatus;
  title: string;
  body: string;
  action: string | null;
  url_args: string;
  target: string;
  expiration: number | null;
  priority: number;
  collapse_id: string | null;
  targeted: number;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  target_max_id: number;
  planned_through: number;
  sent_count: number;
  failed_count: number;
  removed_count: number;
  skipped_count?: number;
  clicked_count: number;
  icon: string | null;
  web_push: string | null;
  action1_clicked_count: number;
  action2_clicked_count: number;
  campaign_id: string | null;
  test: boolean | number;
  respect_caps?: boolean | number;
  template_data?: string | null;
  goal?: string | null;
  goal_event?: string | null;
  variant?: string | null;
  control?: boolean | number;
  winner?: boolean | number;
  occurrence_id?: number | null;
  users_reached?: number | null;
  shown_count?: number;
  held_out_count?: number;
  converted_count?: number;
  revenue?: number;
}

interface DeliveryRow {
  id: number;
  notification_id: string;
  token: string;
  outcome: Outcome;
  status: number | null;
  reason: string | null;
  attempts: number;
  updated_at: number;
  device_id: number | null;
  channel: Channel;
  clicked_at: number | null;
  clicked_action?: number | null;
  shown_at?: number | null;
}

/** What the sender reads of a pending delivery (see pendingDeliveries). */
const PENDING_COLUMNS = ['id', 'device_id', 'token', 'channel', 'attempts'];
type PendingRow = Pick<DeliveryRow, 'id' | 'device_id' | 'token' | 'channel' | 'attempts'>;

/** The keys of a Web Push device, as read for its pending deliveries. */
interface DeviceKeysRow {
  id: number;
  endpoint: string | null;
  p256dh: string | null;
  auth: string | null;
}

/** deliveries.reason is varchar(255); notifications.error is text, kept to a readable size. */
const MAX_REASON = 255;
const MAX_ERROR = 1000;

/** Ids in slices small enough for one `IN (…)` list on either backend. */
function* chunks(ids: number[], size = 500): Generator<number[]> {
  for (let i = 0; i < ids.length; i += size) yield ids.slice(i, i + size);
}

const toNotification = (row: NotificationRow): StoredNotification => ({
  id: row.id,
  campaignId: row.campaign_id ?? null,
  test: Boolean(row.test),
  status: row.status,
  title: row.title,
  body: row.body,
  ...(row.action !== null ? { action: row.action } : {}),
  urlArgs: JSON.parse(row.url_args) as string[],
  target: JSON.parse(row.target) as Target,
  ...(row.expiration !== null ? { expiration: Number(row.expiration) } : {}),
  priority: row.priority as 5 | 10,
  ...(row.collapse_id !== null ? { collapseId: row.collapse_id } : {}),
  ...(row.icon ? { icon: row.icon } : {}),
  ...(row.web_push ? { webPush: JSON.parse(row.web_push) as WebPushOptions } : {}),
  ...(row.respect_caps ? { respectCaps: true } : {}),
  ...(row.template_data ? { templateData: JSON.parse(row.template_data) as Record<string, unknown> } : {}),
  ...(row.goal ? { goal: JSON.parse(row.goal) as Goal } : {}),
  variant: row.variant ?? null,
  control: Boolean(row.control),
  winner: Boolean(row.winner),
  occurrenceId: row.occurrence_id === null || row.occurrence_id === undefined ? null : Number(row.occurrence_id),
  usersReached: row.users_reached === null || row.users_reached === undefined ? null : Number(row.users_reached),
  targeted: row.targeted,
  error: row.error,
  createdAt: Number(row.created_at),
  startedAt: row.started_at === null ? null : Number(row.started_at),
  finishedAt: row.finished_at === null ? null : Number(row.finished_at),
});

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  deviceId: row.device_id === null ? null : Number(row.device_id),
  notificationId: row.notification_id,
  token: row.token,
  channel: row.channel,
  outcome: row.outcome,
  status: row.status,
  reason: row.reason,
  attempts: row.attempts,
  updatedAt: Number(row.updated_at),
  clickedAt: row.clicked_at === null || row.clicked_at === undefined ? null : Number(row.clicked_at),
  clickedAction: row.clicked_action === null || row.clicked_action === undefined ? null : Number(row.clicked_action),
  shownAt: row.shown_at === null || row.shown_at === undefined ? null : Number(row.shown_at),
});

/** A slice of a send: the deliveries of devices with `from < device id <= to`. */
export interface DeliveryRange {
  from: number;
  to: number;
}

/** How a campaign's notification is created: with the id its occurrence chose, marked as its own. */
export interface CreateOptions {
  id?: string;
  campaignId?: string;
  test?: boolean;
  variant?: string;
  control?: boolean;
  winner?: boolean;
  occurrenceId?: number;
}

export interface NotificationRepository {
  /**
   * Stores the notification with its target fixed: the devices matching it now (up to the
   * highest device id at this moment). 400 when nothing matches. Deliveries come later, a page
   * at a time, from planNext.
   */
  create(input: NotificationInput, now: number, options?: CreateOptions): Promise<StoredNotification>;
  get(id: string): Promise<StoredNotification | undefined>;
  /** How many registered devices a target matches now. */
  countTarget(target: Target): Promise<number>;
  /** Deletes a notification no sender has started (its enqueue failed); true when it did. */
  discard(id: string): Promise<boolean>;
  list(request: { limit: number; cursor?: string }): Promise<Page<StoredNotification>>;
  counts(notification: StoredNotification): Promise<OutcomeCounts>;
  /** Materializes the next page of pending deliveries; undefined when every target device has one. */
  planNext(id: string, pageSize: number, now: number): Promise<DeliveryRange | undefined>;
  /** Pending deliveries of a range with device id above `afterDeviceId`, in device order. */
  pendingInRange(id: string, range: DeliveryRange, afterDeviceId: number, limit: number): Promise<Delivery[]>;
  /** Pending deliveries with id above `afterId`, in id order (what a restart left behind). */
  pendingAfter(notificationId: string, afterId: number, limit: number): Promise<Delivery[]>;
  /**
   * Writes many outcomes of one notification with a few statements; a delivery that already has an
   * outcome keeps it. Returns how many deliveries each outcome actually changed.
   */
  recordOutcomes(records: OutcomeRecord[], now: number): Promise<FinalCounts>;
  /** Notes why the send stopped (credentials); every sender of it stops taking devices. */
  stop(id: string, error: string): Promise<void>;
  /** The reason a send was stopped, if it was. */
  stopReason(id: string): Promise<string | null>;
  /** Gives every device that has no outcome yet, planned or not, a failed (or skipped) outcome with `reason`. */
  failRemaining(id: string, reason: string, now: number, outcome?: 'failed' | 'skipped' | 'held_out'): Promise<number>;
  markSending(id: string, now: number): Promise<void>;
  /** Completes (or fails, when stopped) the notification once every device has an outcome. True when it did. */
  finishIfDone(id: string, now: number): Promise<boolean>;
  /** Notifications a restart must pick up again. */
  unfinished(): Promise<string[]>;
  /**
   * Counts a click on one delivery of a notification, once per delivery: 'counted', 'repeat' when
   * it was counted before, 'unknown' when no such delivery exists.
   */
  recordClick(notificationId: string, deliveryId: number, now: number, action?: number): Promise<'counted' | 'repeat' | 'unknown'>;
  /** Counts a Web Push delivery as shown, once: 'counted', 'repeat', or 'unknown' (no such Web Push delivery). */
  recordShown(notificationId: string, deliveryId: number, now: number): Promise<'counted' | 'repeat' | 'unknown'>;
  deliveries(notificationId: string, request: { limit: number; cursor?: string; outcome?: Outcome }): Promise<Page<Delivery>>;
  /** What personalization needs of each device: its user's profile and its own facts. */
  recipients(deviceIds: number[]): Promise<Map<number, Recipient>>;
  /** Deletes frequency-cap records older than `before` (no cap looks back that far); returns how many. */
  pruneLedger(before: number): Promise<number>;
  /** The newest recorded answer of each channel: is APNs (or a push service) reachable and accepting us? */
  lastAnswers(): Promise<Partial<Record<Channel, { at: number; outcome: Outcome; status: number | null; reason: string | null }>>>;
}

/** Advisory lock key on PostgreSQL: capped pages are checked one at a time across processes. */
const CAPS_LOCK = 7_172_017;
const CAP_REASON = 'frequency_cap';

export function createNotificationRepository(db: Knex, websitePushId: string, options: { frequencyCaps?: FrequencyCap[] } = {}): NotificationRepository {
  const isPg = isPostgres(db);
  const caps = options.frequencyCaps ?? [];
  const longestCap = Math.max(0, ...caps.map((cap) => cap.windowMs));
  /**
   * Skips the devices of a capped notification's page whose user is over a cap: the user has had
   * `count` other capped notifications within the window. The rest count toward the caps from now:
   * a user's devices share one count per notification, across pages. Returns how many were skipped.
   */
  const applyCaps = async (trx: Knex.Transaction, id: string, from: number, to: number, now: number): Promise<number> => {
    if (isPg) await trx.raw('select pg_advisory_xact_lock(?)', [CAPS_LOCK]);
    const rows = (await trx('deliveries as dl')
      .join('devices as dv', 'dv.id', 'dl.device_id')
      .where('dl.notification_id', id)
      .andWhere('dl.outcome', 'pending')
      .andWhere('dl.device_id', '>', from)
      .andWhere('dl.device_id', '<=', to)
      .select('dl.id', 'dv.user_id', 'dv.id as device', 'dl.channel')) as Array<{ id: number; user_id: string | null; device: number; channel: Channel }>;
    // Users and anonymous devices in separate name spaces: a user id "device:7" is not device 7.
    const keyOf = (row: { user_id: string | null; device: number }) => (row.user_id === null ? `d:${row.device}` : `u:${row.user_id}`);
    const keys = [...new Set(rows.map(keyOf))];
    const seen = new Map<string, number[]>();
    const already = new Set<string>();
    for (let i = 0; i < keys.length; i += 500) {
      const ledger = (await trx('frequency_ledger').whereIn('user_key', keys.slice(i, i + 500)).andWhere('at', '>', now - longestCap).select('user_key', 'notification_id', 'at')) as Array<{ user_key: string; notification_id: string; at: number | string }>;
      for (const entry of ledger) {
        if (entry.notification_id === id) already.add(entry.user_key);
        else (seen.get(entry.user_key) ?? seen.set(entry.user_key, []).get(entry.user_key) ?? []).push(Number(entry.at));
      }
    }
    const capped = new Set(keys.filter((key) => !already.has(key) && caps.some((cap) => (seen.get(key) ?? []).filter((at) => at > now - cap.windowMs).length >= cap.count)));
    let skipped = 0;
    for (const channel of ['safari', 'webpush'] as const) {
      const skipIds = rows.filter((row) => row.channel === channel && capped.has(keyOf(row))).map((row) => row.id);
      let inChannel = 0;
      for (const ids of chunks(skipIds)) inChannel += await trx('deliveries').whereIn('id', ids).andWhere({ outcome: 'pending' }).update({ outcome: 'skipped', reason: CAP_REASON, updated_at: now });
      await addToBucket(trx, id, channel, now, { skipped: inChannel });
      skipped += inChannel;
    }
    const counted = keys.filter((key) => !capped.has(key) && !already.has(key)).map((key) => ({ user_key: checkedText(key, 300, 'user key'), notification_id: id, at: now }));
    for (let i = 0; i < counted.length; i += 500) await trx('frequency_ledger').insert(counted.slice(i, i + 500)).onConflict(['user_key', 'notification_id']).ignore();
    return skipped;
  };
  // Columns qualified: a filter joins profiles, which has columns of the same names.
  const targetQuery = (trx: Knex, target: Target) => {
    const query = trx('devices').where('devices.website_push_id', websitePushId);
    if ('tokens' in target) query.whereIn('devices.token', target.tokens);
    else if ('users' in target) query.whereIn('devices.user_id', target.users);
    else if ('filter' in target) whereFilter(trx, query, target.filter, target.at);
    if (target.channels) query.whereIn('devices.channel', target.channels);
    if (target.dateAttribute) {
      const { name, day, from, to } = target.dateAttribute;
      // Names are [A-Za-z0-9_] (the schedule's schema): the JSON path is safe as a bound value.
      const value = isPg
        ? '(select da.attributes->>? from profiles da where da.user_id = devices.user_id)'
        : "(select json_extract(da.attributes, '$.' || ?) from profiles da where da.user_id = devices.user_id)";
      query.whereRaw(`(${value} = ? or (length(${value}) > 10 and ${value} >= ? and ${value} < ?))`, [name, day, name, name, from, name, to]);
    }
    if (target.slice && target.slice.count > 1) query.whereRaw('devices.id % ? = ?', [target.slice.count, target.slice.index]);
    if (target.split) {
      const bucket = bucketSql(trx, "coalesce('u:' || devices.user_id, 'd:' || devices.id)");
      query.whereRaw(`${bucket} >= ? and ${bucket} < ?`, [target.split.key, target.split.from, target.split.key, target.split.to]);
    }
    if (target.zones) {
      // A subquery, not a join: a filter may have joined profiles already.
      const zone = 'coalesce((select zp.timezone from profiles zp where zp.user_id = devices.user_id), devices.timezone, ?)';
      const { in: zones, othersThan, fallback } = target.zones;
      const list = (values: string[]) => values.map(() => '?').join(', ');
      const within = zones.length > 0 ? `${zone} in (${list(zones)})` : '1 = 0';
      if (othersThan && othersThan.length > 0) query.whereRaw(`(${within} or ${zone} not in (${list(othersThan)}))`, [...(zones.length > 0 ? [fallback, ...zones] : []), fallback, ...othersThan]);
      else query.whereRaw(within, zones.length > 0 ? [fallback, ...zones] : []);
    }
    return query;
  };
  /** Adds to the counters in the same transaction as the outcomes, so they never disagree. */
  const addCounts = async (trx: Knex, id: string, added: FinalCounts) => {
    if (added.sent + added.failed + added.removed + added.skipped + added.held_out === 0) return;
    await trx('notifications')
      .where({ id })
      .update({
        sent_count: trx.raw('sent_count + ?', [added.sent]),
        failed_count: trx.raw('failed_count + ?', [added.failed]),
        removed_count: trx.raw('removed_count + ?', [added.removed]),
        ...(added.skipped > 0 ? { skipped_count: trx.raw('skipped_count + ?', [added.skipped]) } : {}),
        ...(added.held_out > 0 ? { held_out_count: trx.raw('held_out_count + ?', [added.held_out]) } : {}),
      });
  };
  const noCounts = (): FinalCounts => ({ sent: 0, failed: 0, removed: 0, skipped: 0, held_out: 0 });

  // Web Push deliveries need the subscription's keys, read from the device when handed out (a
  // subscription that was removed meanwhile has none and ends as failed, not sent blind). A second
  // query, only for pages that hold Web Push deliveries: a join would cost every Safari row too.
  /**
   * Pending deliveries as the sender takes them: the columns it reads (PENDING_COLUMNS), the
   * notification's id shared rather than read per row, and a Web Push device's keys from its device.
   * A send reads every device this way, so what each one allocates counts.
   */
  const pendingDeliveries = async (notificationId: string, rows: PendingRow[]): Promise<Delivery[]> => {
    const deviceIds = rows.filter((row) => row.channel === 'webpush' && row.device_id !== null).map((row) => Number(row.device_id));
    const subscriptions = new Map<number, PushSubscription>();
    for (const ids of chunks(deviceIds)) {
      const found = (await db('devices').whereIn('id', ids).select('id', 'endpoint', 'p256dh', 'auth')) as DeviceKeysRow[];
      for (const { id, endpoint, p256dh, auth } of found) if (endpoint && p256dh && auth) subscriptions.set(Number(id), { endpoint, keys: { p256dh, auth } });
    }
    // Device ids are unique across channels, so only Web Push rows find keys here.
    return rows.map((row) => {
      const deviceId = row.device_id === null ? null : Number(row.device_id);
      // One shape for every row (subscription undefined for Safari): monomorphic for the sender.
      return {
        id: row.id,
        deviceId,
        notificationId,
        token: row.token,
        channel: row.channel,
        subscription: deviceId === null ? undefined : subscriptions.get(deviceId),
        outcome: 'pending',
        status: null,
        reason: null,
        attempts: row.attempts,
        updatedAt: 0,
        clickedAt: null,
        clickedAction: null,
        shownAt: null,
      };
    });
  };

  return {
    async create(input, now, options = {}) {
      const id = options.id ?? crypto.randomUUID();
      const [{ maxId }] = await db('devices').max<{ maxId: number | null }[]>({ maxId: 'id' });
      const targetMaxId = Number(maxId ?? 0);
      const [{ n }] = await targetQuery(db, input.target).where('devices.id', '<=', targetMaxId).count<{ n: number }[]>({ n: '*' });
      const targeted = Number(n);
      if (targeted === 0) throw badRequest('No registered device matches the target', 'no_devices');
      const row: NotificationRow = {
        id,
        status: 'queued',
        title: checkedText(input.title, 4096, 'title'),
        body: checkedText(input.body, 8192, 'body'),
        action: checkedText(input.action, 255, 'action'),
        icon: checkedText(input.icon, 2048, 'icon'),
        // Bounded by the send API (each field, data at most 1 KB); JSON.stringify escapes what text columns refuse.
        web_push: input.webPush && Object.keys(input.webPush).length > 0 ? checkedText(JSON.stringify(input.webPush), 16_384, 'webPush') : null,
        url_args: JSON.stringify(input.urlArgs),
        target: JSON.stringify(input.target),
        expiration: input.expiration ?? null,
        priority: input.priority,
        collapse_id: checkedText(input.collapseId, 64, 'collapseId'),
        targeted,
        error: null,
        created_at: now,
        started_at: null,
        finished_at: null,
        target_max_id: targetMaxId,
        planned_through: 0,
        sent_count: 0,
        failed_count: 0,
        removed_count: 0,
        skipped_count: 0,
        clicked_count: 0,
        action1_clicked_count: 0,
        action2_clicked_count: 0,
        campaign_id: options.campaignId ?? null,
        test: options.test ?? false,
        respect_caps: input.respectCaps === true,
        // An event's properties: bounded when they were stored (4 KB of JSON), the name and time besides.
        template_data: input.templateData ? checkedText(JSON.stringify(input.templateData), 16_384, 'templateData') : null,
        // Bounded by its schema (results/goal.ts): names, ten conditions of at most 1 KB each.
        goal: input.goal ? checkedText(JSON.stringify(input.goal), 16_384, 'goal') : null,
        goal_event: input.goal ? checkedText(input.goal.event, 64, 'goal.event') : null,
        variant: checkedText(options.variant, 64, 'variant'),
        control: options.control ?? false,
        winner: options.winner ?? false,
        occurrence_id: options.occurrenceId ?? null,
        users_reached: null,
        shown_count: 0,
        held_out_count: 0,
        converted_count: 0,
        revenue: 0,
      };
      await db('notifications').insert(row);
      return toNotification(row);
    },
    async countTarget(target) {
      const [{ n }] = await targetQuery(db, target).count<{ n: number }[]>({ n: '*' });
      return Number(n);
    },
    async discard(id) {
      return (await db('notifications').where({ id, status: 'queued' }).whereNull('started_at').delete()) > 0;
    },
    async get(id) {
      const row = await db<NotificationRow>('notifications').where({ id }).first();
      return row ? toNotification(row as NotificationRow) : undefined;
    },
    async list(request) {
      return newestFirst<NotificationRow, StoredNotification>(db('notifications').select('*'), 'created_at', request, toNotification, 'uuid');
    },
    async counts(notification) {
      const row = (await db('notifications')
        .where({ id: notification.id })
        .first('targeted', 'sent_count', 'failed_count', 'removed_count', 'skipped_count', 'clicked_count', 'action1_clicked_count', 'action2_clicked_count', 'held_out_count', 'shown_count', 'converted_count', 'revenue')) as
        | Pick<NotificationRow, 'targeted' | 'sent_count' | 'failed_count' | 'removed_count' | 'skipped_count' | 'clicked_count' | 'action1_clicked_count' | 'action2_clicked_count' | 'held_out_count' | 'shown_count' | 'converted_count' | 'revenue'>
        | undefined;
      const actionCounts = [Number(row?.action1_clicked_count ?? 0), Number(row?.action2_clicked_count ?? 0)].slice(0, notification.webPush?.actions?.length ?? 0);
      const sent = Number(row?.sent_count ?? 0);
      const failed = Number(row?.failed_count ?? 0);
      const removed = Number(row?.removed_count ?? 0);
      const skipped = Number(row?.skipped_count ?? 0);
      const clicked = Number(row?.clicked_count ?? 0);
      const heldOut = Number(row?.held_out_count ?? 0);
      return {
        sent,
        failed,
        removed,
        skipped,
        held_out: heldOut,
        clicked,
        clickedActions: actionCounts,
        shown: Number(row?.shown_count ?? 0),
        converted: Number(row?.converted_count ?? 0),
        revenue: Number(row?.revenue ?? 0),
        pending: Math.max(0, Number(row?.targeted ?? notification.targeted) - sent - failed - removed - skipped - heldOut),
      };
    },
    async planNext(id, pageSize, now) {
      return db.transaction(async (trx) => {
        const row = (await trx('notifications').where({ id }).first('target', 'target_max_id', 'planned_through', 'respect_caps')) as
          | Pick<NotificationRow, 'target' | 'target_max_id' | 'planned_through' | 'respect_caps'>
          | undefined;
        if (!row) return undefined;
        const from = Number(row.planned_through);
        const maxId = Number(row.target_max_id);
        if (from >= maxId) return undefined;
        // One statement copies a page of targets: no device list travels through Node.
        const page = targetQuery(trx, JSON.parse(row.target) as Target)
          .where('devices.id', '>', from)
          .andWhere('devices.id', '<=', maxId)
          .orderBy('devices.id')
          .limit(pageSize)
          .select(trx.raw('? as notification_id', [id]), 'devices.id', 'devices.token', 'devices.channel', trx.raw("'pending' as outcome"), trx.raw('0 as attempts'), trx.raw('? as updated_at', [now]));
        await trx
          .into(trx.raw('?? (??, ??, ??, ??, ??, ??, ??)', ['deliveries', 'notification_id', 'device_id', 'token', 'channel', 'outcome', 'attempts', 'updated_at']))
          .insert(page);
        const [{ last, n }] = (await trx('deliveries')
          .where({ notification_id: id })
          .andWhere('device_id', '>', from)
          .select(trx.raw('max(device_id) as last'), trx.raw('count(*) as n'))) as Array<{ last: number | null; n: number }>;
        const count = Number(n);
        // A short page is the last one; then the exact number of deliveries becomes the target count.
        const to = count < pageSize ? maxId : Number(last);
        const updated = await trx('notifications').where({ id, planned_through: from }).update({ planned_through: to });
        if (updated !== 1) throw new Error(`Notification ${id} was planned concurrently`);
        if (row.respect_caps && caps.length > 0 && count > 0) {
          const skipped = await applyCaps(trx, id, from, to, now);
          await addCounts(trx, id, { ...noCounts(), skipped });
        }
        if (to === maxId) {
          const [{ total }] = await trx('deliveries').where({ notification_id: id }).count<{ total: number }[]>({ total: '*' });
          await trx('notifications').where({ id }).update({ targeted: Number(total) });
        }
        return count === 0 ? undefined : { from, to };
      });
    },
    async pendingInRange(id, range, afterDeviceId, limit) {
      const rows = await db('deliveries')
        .where({ notification_id: id, outcome: 'pending' })
        .andWhere('device_id', '>', Math.max(range.from, afterDeviceId))
        .andWhere('device_id', '<=', range.to)
        .orderBy('device_id')
        .limit(limit)
        .select(PENDING_COLUMNS);
      return pendingDeliveries(id, rows as PendingRow[]);
    },
    async pendingAfter(notificationId, afterId, limit) {
      const rows = await db('deliveries').where({ notification_id: notificationId, outcome: 'pending' }).andWhere('id', '>', afterId).orderBy('id').limit(limit).select(PENDING_COLUMNS);
      return pendingDeliveries(notificationId, rows as PendingRow[]);
    },
    async recordOutcomes(records, now) {
      const added: FinalCounts = noCounts();
      if (records.length === 0) return added;
      const notificationId = records[0].notificationId;
      // Most outcomes are alike (sent, 200, first attempt): one UPDATE per distinct outcome. A record
      // is compared with the group of the one before it first: runs of alike records are the rule.
      const alike = (a: OutcomeRecord, b: OutcomeRecord) => a.outcome === b.outcome && a.status === b.status && a.attempts === b.attempts && a.reason === b.reason && a.channel === b.channel;
      const groups: Array<{ record: OutcomeRecord; ids: number[] }> = [];
      let group: { record: OutcomeRecord; ids: number[] } | undefined;
      for (const record of records) {
        if (!group || !alike(group.record, record)) {
          group = groups.find((candidate) => alike(candidate.record, record));
          if (!group) groups.push((group = { record, ids: [] }));
        }
        group.ids.push(record.deliveryId);
      }
      await db.transaction(async (trx) => {
        const byChannel = { safari: noCounts(), webpush: noCounts() };
        for (const { record, ids } of groups) {
          for (const chunk of chunks(ids)) {
            const changed = await trx('deliveries')
              .whereIn('id', chunk)
              .andWhere({ outcome: 'pending' })
              .update({ outcome: record.outcome, status: record.status, reason: boundedText(record.reason, MAX_REASON), attempts: record.attempts, updated_at: now });
            added[record.outcome] += changed;
            byChannel[record.channel][record.outcome] += changed;
            if (record.outcome === 'failed' || record.outcome === 'removed') await addReason(trx, notificationId, record.outcome, boundedText(record.reason, MAX_REASON), changed);
          }
        }
        await addCounts(trx, notificationId, added);
        for (const channel of ['safari', 'webpush'] as const) await addToBucket(trx, notificationId, channel, now, byChannel[channel]);
      });
      return added;
    },
    async stop(id, error) {
      await db('notifications').where({ id }).whereNull('error').update({ error: boundedText(error, MAX_ERROR) });
    },
    async stopReason(id) {
      const row = (await db('notifications').where({ id }).first('error')) as { error: string | null } | undefined;
      return row?.error ?? null;
    },
    async failRemaining(id, given, now, outcome = 'failed') {
      const reason = boundedText(given, MAX_REASON);
      return db.transaction(async (trx) => {
        const row = (await trx('notifications').where({ id }).first('target', 'target_max_id', 'planned_through')) as Pick<
          NotificationRow,
          'target' | 'target_max_id' | 'planned_through'
        >;
        const from = Number(row.planned_through);
        const maxId = Number(row.target_max_id);
        const total = async (channel?: Channel) => {
          const query = trx('deliveries').where({ notification_id: id });
          if (channel) query.andWhere({ channel });
          return Number((await query.count<{ n: number }[]>({ n: '*' }))[0].n);
        };
        let all = 0;
        // Channel by channel, for the hourly rollup of each.
        for (const channel of ['safari', 'webpush'] as const) {
          let created = 0;
          if (from < maxId) {
            const before = await total(channel);
            const rest = targetQuery(trx, JSON.parse(row.target) as Target)
              .where('devices.id', '>', from)
              .andWhere('devices.id', '<=', maxId)
              .andWhere('devices.channel', channel)
              .select(trx.raw('? as notification_id', [id]), 'devices.id', 'devices.token', 'devices.channel', trx.raw('? as outcome', [outcome]), trx.raw('? as reason', [reason]), trx.raw('0 as attempts'), trx.raw('? as updated_at', [now]));
            await trx
              .into(trx.raw('?? (??, ??, ??, ??, ??, ??, ??, ??)', ['deliveries', 'notification_id', 'device_id', 'token', 'channel', 'outcome', 'reason', 'attempts', 'updated_at']))
              .insert(rest);
            created = (await total(channel)) - before;
          }
          const failed = await trx('deliveries').where({ notification_id: id, outcome: 'pending', channel }).update({ outcome, reason, updated_at: now });
          await addToBucket(trx, id, channel, now, { [outcome]: created + failed });
          all += created + failed;
        }
        if (outcome === 'failed') await addReason(trx, id, 'failed', reason, all);
        if (from < maxId) await trx('notifications').where({ id }).update({ planned_through: maxId, targeted: await total() });
        await addCounts(trx, id, { ...noCounts(), [outcome]: all });
        return all;
      });
    },
    async markSending(id, now) {
      await db('notifications').where({ id, status: 'queued' }).update({ status: 'sending', started_at: now });
    },
    async finishIfDone(id, now) {
      const row = (await db('notifications')
        .where({ id })
        .first('status', 'target_max_id', 'planned_through', 'error', 'targeted', 'sent_count', 'failed_count', 'removed_count', 'skipped_count', 'held_out_count', 'goal')) as
        | Pick<NotificationRow, 'status' | 'target_max_id' | 'planned_through' | 'error' | 'targeted' | 'sent_count' | 'failed_count' | 'removed_count' | 'skipped_count' | 'held_out_count' | 'goal'>
        | undefined;
      if (!row || row.status === 'completed' || row.status === 'failed') return false;
      if (Number(row.planned_through) < Number(row.target_max_id)) return false;
      // Planning is complete, so `targeted` is exact, and the counters move with the outcomes.
      if (Number(row.sent_count) + Number(row.failed_count) + Number(row.removed_count) + Number(row.skipped_count ?? 0) + Number(row.held_out_count ?? 0) < Number(row.targeted)) return false;
      const updated = await db('notifications')
        .where({ id })
        .whereIn('status', ['queued', 'sending'])
        .update({ status: row.error ? 'failed' : 'completed', finished_at: now });
      if (updated === 1 && row.goal) {
        // Conversion rates are per user: the users it reached (a user's devices count once).
        const [{ n }] = (await db('deliveries as dl')
          .leftJoin('devices as dv', 'dv.id', 'dl.device_id')
          .where('dl.notification_id', id)
          .whereIn('dl.outcome', ['sent', 'held_out'])
          .select(db.raw("count(distinct coalesce('u:' || dv.user_id, 'd:' || dl.device_id, 'x:' || dl.id)) as n"))) as Array<{ n: number | string }>;
        await db('notifications').where({ id }).update({ users_reached: Number(n) });
      }
      return updated === 1;
    },
    async unfinished() {
      const rows = await db('notifications').whereIn('status', ['queued', 'sending']).orderBy('created_at').select('id');
      return rows.map((row: { id: string }) => row.id);
    },
    async recordClick(notificationId, deliveryId, now, action) {
      // Only buttons 0 and 1 exist (at most two actions); anything else counts as the notification.
      const button = action === 0 || action === 1 ? action : null;
      return db.transaction(async (trx) => {
        const updated = await trx('deliveries').where({ id: deliveryId, notification_id: notificationId }).whereNull('clicked_at').update({ clicked_at: now, clicked_action: button });
        if (updated === 1) {
          const counter = button === null ? undefined : `action${button + 1}_clicked_count`;
          await trx('notifications')
            .where({ id: notificationId })
            .update({ clicked_count: trx.raw('clicked_count + 1'), ...(counter ? { [counter]: trx.raw('?? + 1', [counter]) } : {}) });
          const { channel } = (await trx('deliveries').where({ id: deliveryId }).first('channel')) as { channel: Channel };
          await addToBucket(trx, notificationId, channel, now, { clicked: 1 });
          return 'counted';
        }
        return (await trx('deliveries').where({ id: deliveryId, notification_id: notificationId }).first('id')) ? 'repeat' : 'unknown';
      });
    },
    async recordShown(notificationId, deliveryId, now) {
      return db.transaction(async (trx) => {
        const updated = await trx('deliveries').where({ id: deliveryId, notification_id: notificationId, channel: 'webpush' }).whereNull('shown_at').update({ shown_at: now });
        if (updated === 1) {
          await trx('notifications').where({ id: notificationId }).update({ shown_count: trx.raw('shown_count + 1') });
          await addToBucket(trx, notificationId, 'webpush', now, { shown: 1 });
          return 'counted';
        }
        return (await trx('deliveries').where({ id: deliveryId, notification_id: notificationId, channel: 'webpush' }).first('id')) ? 'repeat' : 'unknown';
      });
    },
    async deliveries(notificationId, request) {
      const query = db('deliveries').where({ notification_id: notificationId }).select('*');
      if (request.outcome) query.andWhere({ outcome: request.outcome });
      return newestFirst<DeliveryRow, Delivery>(query, 'id', request, toDelivery);
    },
    async recipients(deviceIds) {
      const found = new Map<number, Recipient>();
      // A page of a broadcast is a dense run of device ids: one range query beats IN lists of 500.
      const low = Math.min(...deviceIds);
      const high = Math.max(...deviceIds);
      const dense = deviceIds.length > 0 && high - low < 2 * deviceIds.length;
      const wanted = new Set(deviceIds);
      for (const ids of dense ? [deviceIds] : chunks(deviceIds)) {
        const query = db('devices').leftJoin('profiles', 'profiles.user_id', 'devices.user_id');
        if (dense) query.whereBetween('devices.id', [low, high]);
        else query.whereIn('devices.id', ids);
        const rows = (await query
          .select(
            'devices.id',
            'devices.user_id',
            'devices.channel',
            'devices.browser',
            'devices.os',
            'devices.language',
            'devices.timezone',
            'profiles.attributes',
            { profile_timezone: 'profiles.timezone', profile_language: 'profiles.language' },
          )) as Array<{
          id: number;
          user_id: string | null;
          channel: Channel;
          browser: string | null;
          os: string | null;
          language: string | null;
          timezone: string | null;
          attributes: string | Record<string, AttributeValue> | null;
          profile_timezone: string | null;
          profile_language: string | null;
        }>;
        for (const row of rows) {
          if (!wanted.has(Number(row.id))) continue;
          found.set(Number(row.id), {
            userId: row.user_id,
            attributes: (typeof row.attributes === 'string' ? JSON.parse(row.attributes) : row.attributes) ?? {},
            timezone: row.profile_timezone,
            language: row.profile_language,
            device: { channel: row.channel, browser: row.browser, os: row.os, language: row.language, timezone: row.timezone },
          });
        }
      }
      return found;
    },
    async pruneLedger(before) {
      return db('frequency_ledger').where('at', '<', before).delete();
    },
    async lastAnswers() {
      const answers: Awaited<ReturnType<NotificationRepository['lastAnswers']>> = {};
      for (const channel of ['safari', 'webpush'] as const) {
        // Attempts > 0: an answer (or a failed attempt to reach the service), not a device failed unsent.
        const row = (await db('deliveries').where({ channel }).whereNot({ outcome: 'pending' }).andWhere('attempts', '>', 0).orderBy('id', 'desc').first('updated_at', 'outcome', 'status', 'reason')) as
          | Pick<DeliveryRow, 'updated_at' | 'outcome' | 'status' | 'reason'>
          | undefined;
        if (row) answers[channel] = { at: Number(row.updated_at), outcome: row.outcome, status: row.status, reason: row.reason };
      }
      return answers;
    },
  };
}
