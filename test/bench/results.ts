import crypto from 'node:crypto';
import path from 'node:path';
import knex from 'knex';
import { migrate, openDatabase } from '../../src/db/connection';
import type { AudienceBenchContext } from './audience';

/**
 * The results target of `npm run bench` (issue: results): a campaign's report over 1,000,000
 * deliveries, on SQLite and PostgreSQL, against reading one row by primary key through the same
 * service (GET /api/v1/campaigns/{id}). The deliveries, and the counters and hourly rollup the
 * service keeps as outcomes arrive, are seeded in SQL (the rollup as a GROUP BY of the deliveries,
 * which is what the service's writes add up to); the report's totals are checked against a count
 * of the deliveries themselves.
 */

const DELIVERIES = Number(process.env.BENCH_REPORT_DELIVERIES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_REPORT_RUNS ?? 30);
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const HOUR = 3_600_000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Three notifications (control, A, B), 1,000,000 deliveries over 24 hours, their counters and rollup. */
function seedSql(postgres: boolean, n: number, campaignId: string, ids: { control: string; a: string; b: string }, start: number): string[] {
  const seq = postgres ? `generate_series(0, ${n - 1}) AS s(i)` : 'seq';
  const withSeq = postgres ? '' : `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${n - 1}) `;
  const bool = (value: boolean) => (postgres ? String(value) : value ? '1' : '0');
  const notification = (id: string, variant: string | null, control: boolean) =>
    `INSERT INTO notifications (id, status, title, body, url_args, target, priority, targeted, created_at, started_at, finished_at, campaign_id, test, control, variant, goal, occurrence_id) VALUES ('${id}', 'completed', 'Sale', 'Now', '[]', '{"all":true}', 10, 0, ${start}, ${start}, ${start + 24 * HOUR}, '${campaignId}', ${bool(false)}, ${bool(control)}, ${variant === null ? 'NULL' : `'${variant}'`}, '{"event":"purchased","within":"1d","after":"sent"}', 1)`;
  const which = `CASE WHEN i % 10 = 0 THEN '${ids.control}' WHEN i % 2 = 0 THEN '${ids.a}' ELSE '${ids.b}' END`;
  const outcome = `CASE WHEN i % 10 = 0 THEN 'held_out' WHEN i % 100 = 1 THEN 'failed' WHEN i % 200 = 3 THEN 'removed' ELSE 'sent' END`;
  const token = postgres ? "lpad(to_hex(i), 64, '0')" : "printf('%064x', i)";
  const sum = (condition: string) => `sum(CASE WHEN ${condition} THEN 1 ELSE 0 END)`;
  return [
    notification(ids.control, null, true),
    notification(ids.a, 'A', false),
    notification(ids.b, 'B', false),
    `${withSeq}INSERT INTO deliveries (notification_id, device_id, token, channel, outcome, status, reason, attempts, updated_at, clicked_at, shown_at) SELECT ${which}, i + 1, ${token}, CASE WHEN i % 3 = 0 THEN 'webpush' ELSE 'safari' END, ${outcome}, NULL, CASE WHEN i % 10 = 0 THEN 'control_group' WHEN i % 100 = 1 THEN 'BadDeviceToken' WHEN i % 200 = 3 THEN 'Unregistered' ELSE NULL END, 1, ${start} + (i % 24) * ${HOUR}, CASE WHEN i % 10 <> 0 AND i % 20 = 5 THEN ${start} + (i % 24) * ${HOUR} ELSE NULL END, CASE WHEN i % 10 <> 0 AND i % 3 = 0 AND i % 7 < 5 THEN ${start} + (i % 24) * ${HOUR} ELSE NULL END FROM ${seq}`,
    `INSERT INTO result_buckets (notification_id, channel, hour, sent, failed, removed, skipped, held_out, shown, clicked, converted, revenue)
       SELECT notification_id, channel, (updated_at / ${HOUR}) * ${HOUR}, ${sum("outcome = 'sent'")}, ${sum("outcome = 'failed'")}, ${sum("outcome = 'removed'")}, 0, ${sum("outcome = 'held_out'")}, ${sum('shown_at IS NOT NULL')}, ${sum('clicked_at IS NOT NULL')}, 0, 0
       FROM deliveries GROUP BY notification_id, channel, (updated_at / ${HOUR}) * ${HOUR}`,
    `UPDATE notifications SET targeted = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id),
       sent_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.outcome = 'sent'),
       failed_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.outcome = 'failed'),
       removed_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.outcome = 'removed'),
       held_out_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.outcome = 'held_out'),
       users_reached = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.outcome IN ('sent', 'held_out')),
       converted_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.device_id % 50 = 7),
       clicked_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.clicked_at IS NOT NULL),
       shown_count = (SELECT count(*) FROM deliveries d WHERE d.notification_id = notifications.id AND d.shown_at IS NOT NULL)`,
    `INSERT INTO result_reasons (notification_id, outcome, reason, count) SELECT notification_id, outcome, reason, count(*) FROM deliveries WHERE outcome IN ('failed', 'removed') GROUP BY notification_id, outcome, reason`,
    'ANALYZE',
  ];
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function reportOn(ctx: AudienceBenchContext, backend: 'sqlite' | 'postgres'): Promise<void> {
  const postgres = backend === 'postgres';
  const schema = `bench_${crypto.randomBytes(4).toString('hex')}`;
  const file = path.join(ctx.dir, 'report.sqlite');
  const db = postgres ? openDatabase(POSTGRES_URL, schema) : openDatabase(`sqlite:${file}`);
  await migrate(db, postgres ? schema : undefined);
  const { child, base } = await ctx.service(file, postgres ? { DATABASE_URL: POSTGRES_URL, DATABASE_SCHEMA: schema } : {});
  try {
    const campaign = (await ctx.api(base, 'POST', '/api/v1/campaigns', {
      name: 'Winter sale',
      message: { title: 'Sale', body: 'Now', urlArgs: ['a', 'b'] },
      audience: { all: true },
      schedule: { type: 'now' },
      controlGroupPercent: 10,
      variants: [{ name: 'A', weight: 1 }, { name: 'B', weight: 1 }],
      goal: { event: 'purchased', within: '1d' },
    })) as { id: string };
    ctx.log(`report (${backend}): seeding ${ctx.fmt(DELIVERIES)} deliveries of one campaign, their counters and hourly rollup`);
    const ids = { control: crypto.randomUUID(), a: crypto.randomUUID(), b: crypto.randomUUID() };
    for (const statement of seedSql(postgres, DELIVERIES, campaign.id, ids, Date.UTC(2026, 11, 1))) await db.raw(statement);
    const [{ n: sent }] = (await db('deliveries').where({ outcome: 'sent' }).count({ n: '*' })) as Array<{ n: number | string }>;
    const [{ n: heldOut }] = (await db('deliveries').where({ outcome: 'held_out' }).count({ n: '*' })) as Array<{ n: number | string }>;

    const report = () => ctx.api(base, 'GET', `/api/v1/campaigns/${campaign.id}/report`) as Promise<{ totals: { sent: number; heldOut: number }; series: unknown[] }>;
    const pk = () => ctx.api(base, 'GET', `/api/v1/campaigns/${campaign.id}`);
    // Warm both (the first read of a cold file measures the disk).
    const first = await report();
    await pk();
    const reports: number[] = [];
    const reads: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      reads.push(await timed(pk));
      reports.push(await timed(report));
    }
    const right = first.totals.sent === Number(sent) && first.totals.heldOut === Number(heldOut) && first.series.length === 24;
    const ratio = median(reports) / median(reads);
    ctx.notes.push(
      `Report runs on ${backend} (${ctx.fmt(DELIVERIES)} deliveries in 3 notifications over 24 hours; ${RUNS} alternating runs): report median ${median(reports).toFixed(1)} ms (slowest ${Math.max(...reports).toFixed(1)} ms), read by primary key median ${median(reads).toFixed(1)} ms; the report's totals ${right ? 'matched' : '**did not match**'} a count of the deliveries (sent ${ctx.fmt(Number(sent))}, held out ${ctx.fmt(Number(heldOut))}).`,
      '',
    );
    ctx.rows.push({
      name: `GET /api/v1/campaigns/{id}/report over ${ctx.fmt(DELIVERIES)} deliveries, ${postgres ? 'PostgreSQL' : 'SQLite'} (median of ${RUNS})`,
      measured: `${median(reports).toFixed(1)} ms`,
      baseline: `${median(reads).toFixed(1)} ms (GET /api/v1/campaigns/{id}: one row by primary key, same service and database)`,
      ratio,
      target: '≤ 20 (time), under 200 ms',
      met: ratio <= 20 && median(reports) < 200 && right,
    });
  } finally {
    await child.stop();
    if (postgres) {
      const direct = knex({ client: 'pg', connection: POSTGRES_URL });
      await direct.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      await direct.destroy();
    }
    await db.destroy();
  }
}

export async function reportBench(ctx: AudienceBenchContext): Promise<void> {
  await reportOn(ctx, 'sqlite');
  await reportOn(ctx, 'postgres');
}
