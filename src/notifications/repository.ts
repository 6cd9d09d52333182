import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { newestFirst, type Page } from '../db/pagination';
import { badRequest } from '../errors';

export type NotificationStatus = 'queued' | 'sending' | 'completed' | 'failed';
export type Target = { tokens: string[] } | { users: string[] } | { all: true };
export type Outcome = 'pending' | 'sent' | 'failed' | 'removed';

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
}

export interface StoredNotification extends NotificationInput {
  id: string;
  status: NotificationStatus;
  targeted: number;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export type OutcomeCounts = Record<Outcome, number>;

export interface Delivery {
  id: number;
  notificationId: string;
  token: string;
  outcome: Outcome;
  status: number | null;
  reason: string | null;
  attempts: number;
  updatedAt: number;
}

/** The final word on one delivery. */
export interface OutcomeRecord {
  deliveryId: number;
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
}

const toNotification = (row: NotificationRow): StoredNotification => ({
  id: row.id,
  status: row.status,
  title: row.title,
  body: row.body,
  ...(row.action !== null ? { action: row.action } : {}),
  urlArgs: JSON.parse(row.url_args) as string[],
  target: JSON.parse(row.target) as Target,
  ...(row.expiration !== null ? { expiration: Number(row.expiration) } : {}),
  priority: row.priority as 5 | 10,
  ...(row.collapse_id !== null ? { collapseId: row.collapse_id } : {}),
  targeted: row.targeted,
  error: row.error,
  createdAt: Number(row.created_at),
  startedAt: row.started_at === null ? null : Number(row.started_at),
  finishedAt: row.finished_at === null ? null : Number(row.finished_at),
});

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  notificationId: row.notification_id,
  token: row.token,
  outcome: row.outcome,
  status: row.status,
  reason: row.reason,
  attempts: row.attempts,
  updatedAt: Number(row.updated_at),
});

export interface NotificationRepository {
  /** Stores the notification and one pending delivery per targeted device, atomically. 400 when nothing is targeted. */
  create(input: NotificationInput, now: number): Promise<StoredNotification>;
  get(id: string): Promise<StoredNotification | undefined>;
  list(request: { limit: number; cursor?: string }): Promise<Page<StoredNotification>>;
  counts(id: string): Promise<OutcomeCounts>;
  /** Pending deliveries with id above `afterId`, in id order. */
  pendingAfter(notificationId: string, afterId: number, limit: number): Promise<Delivery[]>;
  /** Writes many outcomes in one transaction; a delivery that already has an outcome keeps it. */
  recordOutcomes(records: OutcomeRecord[], now: number): Promise<void>;
  /** Gives every still-pending delivery the same failed outcome. */
  failPending(notificationId: string, reason: string, now: number): Promise<number>;
  markSending(id: string, now: number): Promise<void>;
  finish(id: string, status: 'completed' | 'failed', error: string | null, now: number): Promise<void>;
  /** Notifications a restart must pick up again. */
  unfinished(): Promise<string[]>;
  deliveries(notificationId: string, request: { limit: number; cursor?: string }): Promise<Page<Delivery>>;
}

export function createNotificationRepository(db: Knex, websitePushId: string): NotificationRepository {
  const targetQuery = (trx: Knex, target: Target) => {
    const query = trx('devices').where({ website_push_id: websitePushId });
    if ('tokens' in target) query.whereIn('token', target.tokens);
    else if ('users' in target) query.whereIn('user_id', target.users);
    return query;
  };

  return {
    async create(input, now) {
      const id = crypto.randomUUID();
      return db.transaction(async (trx) => {
        const row: NotificationRow = {
          id,
          status: 'queued',
          title: input.title,
          body: input.body,
          action: input.action ?? null,
          url_args: JSON.stringify(input.urlArgs),
          target: JSON.stringify(input.target),
          expiration: input.expiration ?? null,
          priority: input.priority,
          collapse_id: input.collapseId ?? null,
          targeted: 0,
          error: null,
          created_at: now,
          started_at: null,
          finished_at: null,
        };
        await trx('notifications').insert(row);
        // One statement copies the targets, however many: no device list travels through Node.
        const devices = targetQuery(trx, input.target).select(
          trx.raw('? as notification_id', [id]),
          'token',
          trx.raw("'pending' as outcome"),
          trx.raw('0 as attempts'),
          trx.raw('? as updated_at', [now]),
        );
        await trx.into(trx.raw('?? (??, ??, ??, ??, ??)', ['deliveries', 'notification_id', 'token', 'outcome', 'attempts', 'updated_at'])).insert(devices);
        const [{ n }] = await trx('deliveries').where({ notification_id: id }).count<{ n: number }[]>({ n: '*' });
        const targeted = Number(n);
        if (targeted === 0) throw badRequest('No registered device matches the target', 'no_devices');
        await trx('notifications').where({ id }).update({ targeted });
        return toNotification({ ...row, targeted });
      });
    },
    async get(id) {
      const row = await db<NotificationRow>('notifications').where({ id }).first();
      return row ? toNotification(row as NotificationRow) : undefined;
    },
    async list(request) {
      return newestFirst<NotificationRow, StoredNotification>(db('notifications').select('*'), 'created_at', request, toNotification);
    },
    async counts(id) {
      const rows = await db('deliveries').where({ notification_id: id }).groupBy('outcome').select('outcome').count<{ outcome: Outcome; n: number }[]>({ n: '*' });
      const counts: OutcomeCounts = { pending: 0, sent: 0, failed: 0, removed: 0 };
      for (const row of rows) counts[row.outcome] = Number(row.n);
      return counts;
    },
    async pendingAfter(notificationId, afterId, limit) {
      const rows = await db<DeliveryRow>('deliveries')
        .where({ notification_id: notificationId, outcome: 'pending' })
        .andWhere('id', '>', afterId)
        .orderBy('id')
        .limit(limit);
      return (rows as DeliveryRow[]).map(toDelivery);
    },
    async recordOutcomes(records, now) {
      if (records.length === 0) return;
      await db.transaction(async (trx) => {
        for (const record of records) {
          await trx('deliveries')
            .where({ id: record.deliveryId, outcome: 'pending' })
            .update({ outcome: record.outcome, status: record.status, reason: record.reason, attempts: record.attempts, updated_at: now });
        }
      });
    },
    async failPending(notificationId, reason, now) {
      return db('deliveries').where({ notification_id: notificationId, outcome: 'pending' }).update({ outcome: 'failed', reason, updated_at: now });
    },
    async markSending(id, now) {
      await db('notifications').where({ id }).update({ status: 'sending', started_at: now });
    },
    async finish(id, status, error, now) {
      await db('notifications').where({ id }).update({ status, error, finished_at: now });
    },
    async unfinished() {
      const rows = await db('notifications').whereIn('status', ['queued', 'sending']).orderBy('created_at').select('id');
      return rows.map((row: { id: string }) => row.id);
    },
    async deliveries(notificationId, request) {
      return newestFirst<DeliveryRow, Delivery>(db('deliveries').where({ notification_id: notificationId }).select('*'), 'id', request, toDelivery);
    },
  };
}
