import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type autocannon from 'autocannon';
import Database from 'better-sqlite3';
import knex from 'knex';
import { migrate, openDatabase } from '../../src/db/connection';
import { load, PUSH_ID, start, type Child } from './harness';

/**
 * The audience targets of `npm run bench` (issue: profiles, events, segments, personalization):
 * a reach estimate over 1,000,000 profiles against the hand-written SQL on the same database
 * (SQLite and PostgreSQL), a personalized broadcast against the bare HTTP/2 client, and event
 * ingestion against a bare express route.
 */

export interface Row {
  name: string;
  measured: string;
  baseline: string;
  ratio: number | null;
  target: string;
  met: boolean;
}

export interface AudienceBenchContext {
  dir: string;
  apns: Child;
  rows: Row[];
  notes: string[];
  apiKey: string;
  log(message: string): void;
  fmt(n: number): string;
  /** The service as its own process; extraEnv may set DATABASE_URL and DATABASE_SCHEMA. */
  service(database: string, extraEnv?: Record<string, string>): Promise<{ child: Child; base: string }>;
  api(base: string, method: string, route: string, body?: object): Promise<Record<string, unknown>>;
  /** The sends baseline: the bare node:http2 client in its own process, over `tokens`. */
  bare(dir: string, tokens: string[]): Promise<{ rate: number; ok: number }>;
}

const REACH_PROFILES = Number(process.env.BENCH_REACH_PROFILES ?? 1_000_000);
const REACH_RUNS = Number(process.env.BENCH_REACH_RUNS ?? 3);
const PERSONAL_DEVICES = Number(process.env.BENCH_PERSONAL_DEVICES ?? 100_000);
const PERSONAL_TRIALS = Number(process.env.BENCH_PERSONAL_TRIALS ?? 3);
const EVENT_TRIALS = Number(process.env.BENCH_EVENT_TRIALS ?? 3);
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;

const median = <T>(items: T[], by: (item: T) => number): T => [...items].sort((a, b) => by(a) - by(b))[Math.floor(items.length / 2)];

/** "Pro users on Chrome who added something to the cart in the last 7 days". */
const REACH_FILTER = {
  all: [
    { attribute: 'plan', op: 'eq', value: 'pro' },
    { device: 'browser', op: 'eq', value: 'chrome' },
    { event: 'added_to_cart', within: '7d' },
  ],
};

/**
 * The same question as a person would write it for each database and this schema: a join, the
 * three conditions (the event one as a semi-join on the (name, time) index, the way the schema is
 * meant to be read), one pass that counts devices per channel and distinct users.
 */
const handWritten = (postgres: boolean) => `
  SELECT count(*) AS total,
         sum(CASE WHEN d.channel = 'safari' THEN 1 ELSE 0 END) AS safari,
         sum(CASE WHEN d.channel = 'webpush' THEN 1 ELSE 0 END) AS webpush,
         count(DISTINCT d.user_id) AS users
  FROM devices d JOIN profiles p ON p.user_id = d.user_id
  WHERE d.website_push_id = ? AND ${postgres ? "p.attributes ->> 'plan' = 'pro'" : "json_extract(p.attributes, '$.plan') = 'pro'"} AND d.browser = 'chrome'
    AND d.user_id IN (SELECT e.user_id FROM events e WHERE e.name = 'added_to_cart' AND e.time > ?)`;

/**
 * One profile and one device per user; half of the users added to the cart in the last two
 * weeks, everyone viewed something in the last month. Seeded in SQL (a recursive sequence), so
 * 3 million rows take seconds. Same data on both databases.
 */
function seedSql(postgres: boolean, n: number, now: number): string[] {
  const seq = postgres ? `generate_series(0, ${n - 1}) AS s(i)` : 'seq';
  const withSeq = postgres ? '' : `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${n - 1}) `;
  const pick = (values: string[]) => `CASE i % ${values.length} ${values.map((v, k) => `WHEN ${k} THEN '${v}'`).join(' ')} END`;
  const attributes = postgres
    ? `jsonb_build_object('plan', ${pick(['free', 'pro', 'trial', 'team'])}, 'age', 18 + i % 60, 'firstName', 'Name' || (i % 1000))`
    : `json_object('plan', ${pick(['free', 'pro', 'trial', 'team'])}, 'age', 18 + i % 60, 'firstName', 'Name' || (i % 1000))`;
  const token = postgres ? "lpad(to_hex(i), 64, '0')" : "printf('%064x', i)";
  const day = postgres ? `${DAY}::bigint` : String(DAY);
  return [
    `${withSeq}INSERT INTO profiles (user_id, attributes, test, created_at, updated_at) SELECT 'u' || i, ${attributes}, ${postgres ? 'false' : '0'}, ${now}, ${now} FROM ${seq}`,
    `${withSeq}INSERT INTO devices (channel, token, website_push_id, user_id, created_at, registered_at, browser, os) SELECT CASE WHEN i % 3 = 0 THEN 'webpush' ELSE 'safari' END, ${token}, '${PUSH_ID}', 'u' || i, ${now}, ${now}, ${pick(['chrome', 'firefox', 'safari', 'edge', 'chrome'])}, 'linux' FROM ${seq}`,
    `${withSeq}INSERT INTO events (name, user_id, time, created_at) SELECT 'added_to_cart', 'u' || i, ${now} - (i % 14) * ${day} - 1000, ${now} FROM ${seq} WHERE i % 2 = 1`,
    `${withSeq}INSERT INTO events (name, user_id, time, created_at) SELECT 'viewed', 'u' || i, ${now} - (i % 30) * ${day} - 1000, ${now} FROM ${seq}`,
    'ANALYZE',
  ];
}

type Reach = { users: number; devices: { safari: number; webpush: number; all: number } };
const reachOf = (row: { total: number | string; safari: number | string | null; webpush: number | string | null; users: number | string }): Reach => ({
  users: Number(row.users),
  devices: { safari: Number(row.safari ?? 0), webpush: Number(row.webpush ?? 0), all: Number(row.total) },
});

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await run();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, value };
}

/** Reach estimate through the service vs the hand-written query on the same database. */
async function reach(ctx: AudienceBenchContext, backend: 'sqlite' | 'postgres'): Promise<void> {
  const now = Date.now();
  const postgres = backend === 'postgres';
  const schema = `bench_${crypto.randomBytes(4).toString('hex')}`;
  const file = path.join(ctx.dir, 'reach.sqlite');
  ctx.log(`reach (${backend}): seeding ${ctx.fmt(REACH_PROFILES)} profiles, devices and their events`);
  const db = postgres ? openDatabase(POSTGRES_URL, schema) : openDatabase(`sqlite:${file}`);
  await migrate(db, postgres ? schema : undefined);
  for (const statement of seedSql(postgres, REACH_PROFILES, now)) await db.raw(statement);
  await db.destroy();

  const direct = postgres ? knex({ client: 'pg', connection: POSTGRES_URL, searchPath: [schema] }) : undefined;
  const sqlite = postgres ? undefined : new Database(file, { readonly: true });
  const since = now - 7 * DAY;
  const handQuery = async (): Promise<Reach> => {
    if (direct) {
      const result = (await direct.raw(handWritten(true), [PUSH_ID, since])) as { rows: Array<Parameters<typeof reachOf>[0]> };
      return reachOf(result.rows[0]);
    }
    return reachOf(sqlite?.prepare(handWritten(false)).get(PUSH_ID, since) as Parameters<typeof reachOf>[0]);
  };
  const { child, base } = await ctx.service(file, postgres ? { DATABASE_URL: POSTGRES_URL, DATABASE_SCHEMA: schema } : {});
  const runs: Array<{ hand: number; service: number }> = [];
  let same = true;
  let shown: Reach | undefined;
  try {
    // Warm the caches of both (the first read of a cold file measures the disk, not the query).
    await handQuery();
    await ctx.api(base, 'POST', '/api/v1/segments/estimate', { filter: REACH_FILTER });
    for (let run = 0; run < REACH_RUNS; run++) {
      const hand = await timed(handQuery);
      const service = await timed(() => ctx.api(base, 'POST', '/api/v1/segments/estimate', { filter: REACH_FILTER }) as Promise<Reach>);
      same &&= JSON.stringify(hand.value) === JSON.stringify(service.value);
      shown = service.value;
      runs.push({ hand: hand.ms, service: service.ms });
    }
  } finally {
    await child.stop();
    sqlite?.close();
    if (direct) {
      await direct.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      await direct.destroy();
    }
    if (!postgres) for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  }
  const mid = median(runs, (r) => r.service / r.hand);
  ctx.notes.push(
    `Reach estimate runs on ${backend} (${ctx.fmt(REACH_PROFILES)} profiles and devices; the filter: plan = pro, browser = chrome, added_to_cart in the last 7 days; both answered ${JSON.stringify(shown)}${same ? '' : ', **but not alike in every run**'}): ${runs
      .map((r, i) => `${i + 1}: ${r.service.toFixed(0)} ms vs ${r.hand.toFixed(0)} ms = ${(r.service / r.hand).toFixed(2)}`)
      .join('; ')}.`,
    '',
  );
  ctx.rows.push({
    name: `Reach estimate over ${ctx.fmt(REACH_PROFILES)} profiles (attribute, device fact, event count), ${backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, through POST /api/v1/segments/estimate (median of ${runs.length})`,
    measured: `${mid.service.toFixed(0)} ms`,
    baseline: `${mid.hand.toFixed(0)} ms (the hand-written SQL query on the same database)`,
    ratio: mid.service / mid.hand,
    target: '≤ 1.50 (time)',
    met: mid.service / mid.hand <= 1.5 && same,
  });
}

/** A new SQLite file with the service's tables. */
async function migratedSqlite(file: string): Promise<string> {
  const db = openDatabase(`sqlite:${file}`);
  await migrate(db);
  await db.destroy();
  return file;
}

/** 100,000 Safari devices of 100,000 users with a first name and a plan, in SQLite. */
function seedPersonal(file: string, n: number): string[] {
  const db = new Database(file);
  const device = db.prepare('INSERT INTO devices (channel, token, website_push_id, user_id, created_at, registered_at) VALUES (?, ?, ?, ?, ?, ?)');
  const profile = db.prepare('INSERT INTO profiles (user_id, attributes, test, created_at, updated_at) VALUES (?, ?, 0, ?, ?)');
  const tokens: string[] = [];
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const token = crypto.randomBytes(32).toString('hex');
      device.run('safari', token, PUSH_ID, `u${i}`, now, now);
      // Every tenth user has no first name: the template's default is rendered for them.
      if (i % 10 !== 0) profile.run(`u${i}`, JSON.stringify({ firstName: `Name${i % 5000}`, plan: i % 2 ? 'pro' : 'free' }), now, now);
      tokens.push(token);
    }
  })();
  db.close();
  return tokens;
}

const PERSONAL = {
  title: 'Hi {{ user.firstName | default: "there" }}',
  body: 'Your {{ user.plan | default: "free" | upcase }} plan: boarding now',
  urlArgs: ['boarding', 'A998'],
  to: { all: true },
};

async function personalized(ctx: AudienceBenchContext): Promise<void> {
  const dir = path.join(ctx.dir, 'personal');
  fs.mkdirSync(dir, { recursive: true });
  const seeded = await migratedSqlite(path.join(dir, 'seeded.sqlite'));
  ctx.log(`personalized broadcast: seeding ${ctx.fmt(PERSONAL_DEVICES)} devices with profiles`);
  const tokens = seedPersonal(seeded, PERSONAL_DEVICES);
  const trials: Array<{ bare: number; service: number; sent: number; ratio: number }> = [];
  for (let trial = 1; trial <= PERSONAL_TRIALS; trial++) {
    ctx.log(`personalized broadcast: trial ${trial} of ${PERSONAL_TRIALS} (bare node:http2 client, then the service)`);
    const bare = await ctx.bare(dir, tokens);
    const database = path.join(dir, `trial-${trial}.sqlite`);
    fs.copyFileSync(seeded, database);
    const { child, base } = await ctx.service(database);
    try {
      const started = Date.now();
      const done = (await ctx.api(base, 'POST', '/api/v1/notifications?wait=true', PERSONAL)) as { id: string; counts: { targeted: number; sent: number } };
      const rate = done.counts.targeted / ((Date.now() - started) / 1000);
      trials.push({ bare: bare.rate, service: rate, sent: done.counts.sent, ratio: rate / bare.rate });
      if (done.counts.sent !== done.counts.targeted) {
        const failed = (await ctx.api(base, 'GET', `/api/v1/notifications/${done.id}/deliveries?outcome=failed&limit=3`)) as { items: Array<{ reason: string | null }> };
        ctx.log(`personalized broadcast: trial ${trial} sent ${ctx.fmt(done.counts.sent)} of ${ctx.fmt(done.counts.targeted)}; failed for example with: ${failed.items.map((d) => d.reason).join(' | ')}`);
      }
    } finally {
      await child.stop();
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${database}${suffix}`, { force: true });
    }
  }
  const mid = median(trials, (t) => t.ratio);
  ctx.notes.push(
    `Personalized broadcast trials (${ctx.fmt(PERSONAL_DEVICES)} Safari devices, a template in title and body, rendered per device from each user's profile): ${trials
      .map((t, i) => `${i + 1}: ${ctx.fmt(t.service)} vs ${ctx.fmt(t.bare)} req/s = ${t.ratio.toFixed(2)}, sent ${ctx.fmt(t.sent)}`)
      .join('; ')}.`,
    '',
  );
  ctx.rows.push({
    name: `Personalized broadcast to ${ctx.fmt(PERSONAL_DEVICES)} Safari devices (templates in title and body; median of ${trials.length} trials)`,
    measured: `${ctx.fmt(mid.service)} devices/s (sent ${ctx.fmt(mid.sent)})`,
    baseline: `${ctx.fmt(mid.bare)} req/s (the sends benchmark's bare node:http2 client, same stand-in)`,
    ratio: mid.ratio,
    target: '≥ 0.60',
    met: mid.ratio >= 0.6 && trials.every((t) => t.sent === PERSONAL_DEVICES),
  });
}

/** POST /api/v1/events with batches of 100 against a bare express route that parses the same bodies. */
async function events(ctx: AudienceBenchContext): Promise<void> {
  const dir = path.join(ctx.dir, 'events');
  fs.mkdirSync(dir, { recursive: true });
  const database = await migratedSqlite(path.join(dir, 'events.sqlite'));
  const names = ['viewed', 'added_to_cart', 'purchased', 'searched'];
  // Made before the runs, so building them takes no CPU from the measured processes.
  const bodies = Array.from({ length: 2000 }, (_, b) =>
    JSON.stringify({
      events: Array.from({ length: 100 }, (_, i) => ({
        name: names[(b + i) % names.length],
        userId: `u${(b * 100 + i) % 50_000}`,
        properties: { price: (i % 90) + 9.5, sku: `SKU-${i % 500}`, page: `/products/${i % 1000}` },
      })),
    }),
  );
  let next = 0;
  const post: autocannon.Request = {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.apiKey}` },
    setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
  };
  const bareServer = await start('test/bench/bare-express.js', [], {}, /listening on .*"port":(\d+)/);
  const { child, base } = await ctx.service(database);
  const trials: Array<{ bare: number; service: number; ratio: number; errors: number; non2xx: number }> = [];
  try {
    for (let trial = 1; trial <= EVENT_TRIALS; trial++) {
      ctx.log(`events: trial ${trial} of ${EVENT_TRIALS} (bare express route, then the service on SQLite)`);
      const bare = await load({ url: `http://127.0.0.1:${bareServer.match[1]}/api/v1/events`, connections: 32, requests: [post] });
      const service = await load({ url: `${base}/api/v1/events`, connections: 32, requests: [post] });
      trials.push({ bare: bare.rps, service: service.rps, ratio: service.rps / bare.rps, errors: service.errors, non2xx: service.non2xx });
    }
  } finally {
    await Promise.all([bareServer.stop(), child.stop()]);
  }
  const mid = median(trials, (t) => t.ratio);
  ctx.notes.push(
    `Event ingestion trials (32 connections, 100 events a request): ${trials.map((t, i) => `${i + 1}: ${ctx.fmt(t.service)} vs ${ctx.fmt(t.bare)} req/s = ${t.ratio.toFixed(2)}`).join('; ')}.`,
    '',
  );
  ctx.rows.push({
    name: `POST /api/v1/events, batches of 100, SQLite, 32 connections (median of ${trials.length} trials)`,
    measured: `${ctx.fmt(mid.service)} req/s (${ctx.fmt(mid.service * 100)} events/s)`,
    baseline: `${ctx.fmt(mid.bare)} req/s (bare express route: express.json() on the same bodies, answering 202)`,
    ratio: mid.ratio,
    target: '≥ 0.50',
    met: mid.ratio >= 0.5 && trials.every((t) => t.non2xx === 0 && t.errors <= 5),
  });
}

/** The audience parts that `only` names: reach (both databases), personalized, events. */
export async function audienceBench(ctx: AudienceBenchContext, only: string[]): Promise<void> {
  if (only.includes('reach')) {
    await reach(ctx, 'sqlite');
    await reach(ctx, 'postgres');
  }
  if (only.includes('personalized')) await personalized(ctx);
  if (only.includes('events')) await events(ctx);
}
