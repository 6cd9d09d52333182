import type { Knex } from 'knex';
import type { Channel } from '../devices/repository';

/** What one hour of one notification's deliveries on one channel came to. */
export const BUCKET_COUNTS = ['sent', 'failed', 'removed', 'skipped', 'held_out', 'shown', 'clicked', 'converted', 'revenue'] as const;
export type BucketColumn = (typeof BUCKET_COUNTS)[number];
export type BucketCounts = Partial<Record<BucketColumn, number>>;

export const HOUR_MS = 3_600_000;
export const hourOf = (at: number) => Math.floor(at / HOUR_MS) * HOUR_MS;

/** Adds `count` failed or removed deliveries with `reason` to a notification's failures by reason, in the caller's transaction. */
export async function addReason(trx: Knex, notificationId: string, outcome: 'failed' | 'removed', reason: string | null, count: number): Promise<void> {
  if (count === 0) return;
  await trx('result_reasons')
    .insert({ notification_id: notificationId, outcome, reason: reason ?? '', count })
    .onConflict(['notification_id', 'outcome', 'reason'])
    .merge({ count: trx.raw('?? + ?', ['result_reasons.count', count]) });
}

/**
 * Adds to a notification's hourly rollup (result_buckets), in the caller's transaction: the
 * reports read these rows instead of the deliveries. One upsert; nothing when every count is 0.
 */
export async function addToBucket(trx: Knex, notificationId: string, channel: Channel, at: number, counts: BucketCounts): Promise<void> {
  const added = (Object.entries(counts) as Array<[BucketColumn, number]>).filter(([, value]) => value !== 0 && Number.isFinite(value));
  if (added.length === 0) return;
  await trx('result_buckets')
    .insert({ notification_id: notificationId, channel, hour: hourOf(at), ...Object.fromEntries(added) })
    .onConflict(['notification_id', 'channel', 'hour'])
    .merge(Object.fromEntries(added.map(([column, value]) => [column, trx.raw('?? + ?', [`result_buckets.${column}`, value])])));
}
