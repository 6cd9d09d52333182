import type { Knex } from 'knex';
import type { Channel } from '../devices/repository';
import { notFound } from '../errors';
import { BUCKET_COUNTS, type BucketColumn } from './buckets';
import type { CampaignReport, Totals } from './report-types';
import { twoProportionTest } from './stats';

export type { CampaignReport, Totals };

/** One channel-hour of a part (variant, control, winner), summed over its notifications' rollup rows. */
type BucketRow = Record<BucketColumn, number | string | null> & { channel: Channel; hour: number | string; variant: string | null; control: boolean | number; winner: boolean | number };

const empty = (): Totals => ({ targeted: 0, sent: 0, failed: 0, removed: 0, skipped: 0, heldOut: 0, shown: 0, clicked: 0, converted: 0, revenue: 0, users: 0, clickRate: null, conversionRate: null });
const rate = (part: number, whole: number) => (whole > 0 ? part / whole : null);
function finish(t: Totals): Totals {
  return { ...t, revenue: Math.round(t.revenue * 1e6) / 1e6, clickRate: rate(t.clicked, t.sent), conversionRate: t.users === null ? null : rate(t.converted, t.users) };
}
function addBucket(t: Totals, row: BucketRow) {
  t.sent += Number(row.sent ?? 0);
  t.failed += Number(row.failed ?? 0);
  t.removed += Number(row.removed ?? 0);
  t.skipped += Number(row.skipped ?? 0);
  t.heldOut += Number(row.held_out ?? 0);
  t.shown = (t.shown ?? 0) + Number(row.shown ?? 0);
  t.clicked += Number(row.clicked ?? 0);
}

/**
 * A campaign's report (or one occurrence's), from the counters kept as outcomes, clicks, shown
 * reports and conversions arrived: one grouped read of the hourly rollup and one of the
 * notifications, so its cost grows with notifications and hours, not with deliveries.
 */
export async function campaignReport(db: Knex, campaignId: string, occurrenceId?: number, options: { controlGroup?: boolean } = {}): Promise<CampaignReport> {
  if (occurrenceId !== undefined && !(await db('campaign_occurrences').where({ id: occurrenceId, campaign_id: campaignId }).first('id'))) throw notFound('The campaign has no occurrence with that id');
  const scope = (query: Knex.QueryBuilder, alias: string) => {
    query.where(`${alias}.campaign_id`, campaignId).andWhere(`${alias}.test`, false);
    if (occurrenceId !== undefined) query.andWhere(`${alias}.occurrence_id`, occurrenceId);
    return query;
  };
  // Summed in the database, one row per part (variant, control, winner): a triggered campaign has a notification per entry.
  // A user reached counts once per notification; without the count (no goal), its devices sent.
  const notifications = (await scope(db('notifications as n'), 'n')
    .groupBy('n.variant', 'n.control', 'n.winner')
    .select(
      'n.variant',
      'n.control',
      'n.winner',
      db.raw('sum(n.targeted) as targeted'),
      db.raw('sum(coalesce(n.users_reached, case when n.control then n.held_out_count else n.sent_count end)) as users'),
      db.raw('sum(n.converted_count) as converted_count'),
      db.raw('sum(n.revenue) as revenue'),
      db.raw('max(case when n.goal is null then 0 else 1 end) as goal'),
    )) as Array<{
    variant: string | null;
    control: boolean | number;
    winner: boolean | number;
    targeted: number | string;
    users: number | string | null;
    converted_count: number | string | null;
    revenue: number | string | null;
    goal: number | string;
  }>;
  const buckets = (await scope(db('result_buckets as b').join('notifications as n', 'n.id', 'b.notification_id'), 'n')
    .groupBy('b.channel', 'b.hour', 'n.variant', 'n.control', 'n.winner')
    .select('b.channel', 'b.hour', 'n.variant', 'n.control', 'n.winner', ...BUCKET_COUNTS.map((c) => db.raw('sum(??) as ??', [`b.${c}`, c])))) as BucketRow[];

  const totals = empty();
  const control = { users: 0, converted: 0, revenue: 0, conversionRate: null as number | null };
  const variants = new Map<string, Totals>();
  let winner: { name: string; totals: Totals } | undefined;
  const byChannel: Record<Channel, Totals> = { safari: { ...empty(), users: null }, webpush: { ...empty(), users: null } };
  /** Where a treated notification's counts go besides the totals: its variant's test, or the winner's sends. */
  const groupOf = (n: { variant: string | null; winner: boolean | number }): Totals | undefined => {
    if (n.variant === null) return undefined;
    if (n.winner) return (winner ??= { name: n.variant, totals: empty() }).totals;
    return variants.get(n.variant) ?? variants.set(n.variant, empty()).get(n.variant);
  };
  const series = new Map<number, { sent: number; shown: number; clicked: number; converted: number; revenue: number }>();
  // A campaign with a control group reports it even before (or without) anyone held out in it.
  let hasControl = options.controlGroup === true;
  for (const n of notifications) {
    const users = Number(n.users ?? 0);
    if (n.control) {
      hasControl = true;
      control.users += users;
      control.converted += Number(n.converted_count);
      control.revenue += Number(n.revenue);
      totals.targeted += Number(n.targeted);
      continue;
    }
    const group = groupOf(n);
    for (const t of group ? [totals, group] : [totals]) {
      t.targeted += Number(n.targeted);
      t.users = (t.users ?? 0) + users;
      t.converted += Number(n.converted_count);
      t.revenue += Number(n.revenue);
    }
  }
  for (const row of buckets) {
    if (row.control) {
      totals.heldOut += Number(row.held_out ?? 0);
      continue;
    }
    // Channels, like the totals, are the treated audience's.
    const channel = byChannel[row.channel];
    addBucket(channel, row);
    channel.targeted += Number(row.sent ?? 0) + Number(row.failed ?? 0) + Number(row.removed ?? 0) + Number(row.skipped ?? 0);
    channel.converted += Number(row.converted ?? 0);
    channel.revenue += Number(row.revenue ?? 0);
    addBucket(totals, row);
    const group = groupOf(row);
    if (group) addBucket(group, row);
    const hour = Number(row.hour);
    const point = series.get(hour) ?? { sent: 0, shown: 0, clicked: 0, converted: 0, revenue: 0 };
    point.sent += Number(row.sent ?? 0);
    point.shown += Number(row.shown ?? 0);
    point.clicked += Number(row.clicked ?? 0);
    point.converted += Number(row.converted ?? 0);
    point.revenue += Number(row.revenue ?? 0);
    series.set(hour, point);
  }
  // Failures by reason, counted as they were recorded.
  const failures = (
    (await scope(db('result_reasons as r').join('notifications as n', 'n.id', 'r.notification_id'), 'n')
      .groupBy('r.outcome', 'r.reason')
      .select('r.outcome', 'r.reason', db.raw('sum(r.count) as n'))
      .orderBy('n', 'desc')
      .limit(20)) as Array<{ outcome: 'failed' | 'removed'; reason: string; n: number | string }>
  ).map((row) => ({ outcome: row.outcome, reason: row.reason === '' ? null : row.reason, count: Number(row.n) }));

  const goal = notifications.some((n) => Number(n.goal) === 1);
  const treated = finish(totals);
  const controlView = hasControl ? { ...control, revenue: Math.round(control.revenue * 1e6) / 1e6, conversionRate: rate(control.converted, control.users) } : null;
  const treatedUsers = treated.users ?? 0;
  const lift =
    controlView && goal && treatedUsers > 0 && controlView.users > 0
      ? { ...twoProportionTest(treated.converted, treatedUsers, controlView.converted, controlView.users), treated: { users: treatedUsers, converted: treated.converted }, control: { users: controlView.users, converted: controlView.converted } }
      : null;
  const safari = finish(byChannel.safari);
  const notes = [
    'shown counts Web Push notifications whose service worker reported them (with CLICK_TRACKING=true); legacy Safari cannot report it, so byChannel.safari.shown is null, and a browser that shows a declarative message without a service worker does not report it either.',
  ];
  if (!goal) notes.push('No goal: converted, revenue and lift are not measured.');
  if (hasControl && !goal) notes.push('A control group without a goal: there is nothing to compare it on.');
  return {
    campaignId,
    occurrence: occurrenceId === undefined ? null : String(occurrenceId),
    goal,
    totals: treated,
    control: controlView,
    lift,
    variants: [...variants.entries()].map(([name, t]) => ({ name, ...finish(t) })),
    winner: winner ? { name: winner.name, ...finish(winner.totals) } : null,
    byChannel: { safari: { ...safari, shown: null }, webpush: finish(byChannel.webpush) },
    series: [...series.entries()].sort(([a], [b]) => a - b).map(([at, p]) => ({ at: new Date(at).toISOString(), ...p, revenue: Math.round(p.revenue * 1e6) / 1e6 })),
    failures: failures.slice(0, 20),
    notes,
  };
}

const CSV_COLUMNS = ['section', 'name', 'targeted', 'sent', 'failed', 'removed', 'skipped', 'heldOut', 'shown', 'clicked', 'converted', 'revenue', 'users', 'clickRate', 'conversionRate', 'liftAbsolute', 'liftRelative', 'pValue', 'ci95Low', 'ci95High'] as const;
type CsvRow = Partial<Totals> & { liftAbsolute?: number; liftRelative?: number | null; pValue?: number | null; ci95Low?: number; ci95High?: number };

/** A CSV cell: quoted when it holds a comma, quote or line break; text that a spreadsheet would run as a formula is prefixed with '. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The report as CSV: one row for the totals, the control group (with the lift, its p-value and
 * interval), each variant, the winner's sends and each channel, then one per hour.
 */
export function reportCsv(report: CampaignReport): string {
  const rows: unknown[][] = [[...CSV_COLUMNS]];
  const line = (section: string, name: string, t: CsvRow) => rows.push([section, name, ...CSV_COLUMNS.slice(2).map((c) => t[c as keyof CsvRow])]);
  line('total', 'all', report.totals);
  if (report.control) {
    const lift = report.lift;
    line('control', 'control', {
      users: report.control.users,
      converted: report.control.converted,
      revenue: report.control.revenue,
      conversionRate: report.control.conversionRate ?? null,
      ...(lift ? { liftAbsolute: lift.absolute, liftRelative: lift.relative, pValue: lift.pValue, ci95Low: lift.confidence95?.[0], ci95High: lift.confidence95?.[1] } : {}),
    });
  }
  for (const v of report.variants) line('variant', v.name, v);
  if (report.winner) line('winner', report.winner.name, report.winner);
  for (const [channel, t] of Object.entries(report.byChannel)) line('channel', channel, t);
  for (const p of report.series) line('hour', p.at, { sent: p.sent, shown: p.shown, clicked: p.clicked, converted: p.converted, revenue: p.revenue });
  return `${rows.map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}
