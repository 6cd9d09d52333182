import fs from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import { migrate, openDatabase } from '../../src/db/connection';
import { PUSH_ID, sleep, type Child } from './harness';
import type { Row } from './audience';

/**
 * The campaign target of `npm run bench` (issue: campaigns): one local-time occurrence over
 * 1,000,000 users in 46 time zones. The service runs as its own process with a clock the bench
 * sets (test/bench/clocked-service.ts): it is moved to the planning time (27 hours ahead), then to
 * a second before each group of zones comes due; from there it runs at real speed, so how late a
 * zone starts is measured in real time. Peak memory is the service process's VmHWM over the whole
 * occurrence: planning, 40-odd sends and every outcome recorded.
 */

export interface CampaignBenchContext {
  dir: string;
  rows: Row[];
  notes: string[];
  log(message: string): void;
  fmt(n: number): string;
  /** The clocked service as its own process (its standard input sets the clock). */
  service(database: string): Promise<{ child: Child; base: string }>;
  api(base: string, method: string, route: string, body?: object): Promise<Record<string, unknown>>;
}

const USERS = Number(process.env.BENCH_CAMPAIGN_USERS ?? 1_000_000);
const MEMORY_LIMIT_MB = 300;
const START_LIMIT_S = 60;

/** 46 zones, from +14:00 to -11:00, half and quarter hours among them. */
export const BENCH_ZONES = [
  'Pacific/Kiritimati', 'Pacific/Chatham', 'Pacific/Tongatapu', 'Pacific/Auckland', 'Pacific/Fiji', 'Pacific/Noumea',
  'Australia/Sydney', 'Australia/Lord_Howe', 'Australia/Adelaide', 'Australia/Brisbane', 'Australia/Darwin', 'Asia/Tokyo',
  'Asia/Seoul', 'Asia/Shanghai', 'Asia/Singapore', 'Asia/Bangkok', 'Asia/Yangon', 'Asia/Dhaka', 'Asia/Kathmandu',
  'Asia/Kolkata', 'Asia/Karachi', 'Asia/Kabul', 'Asia/Dubai', 'Asia/Tehran', 'Europe/Moscow', 'Africa/Nairobi',
  'Europe/Athens', 'Africa/Cairo', 'Europe/Berlin', 'Europe/Paris', 'Africa/Lagos', 'Europe/London', 'Atlantic/Azores',
  'America/Noronha', 'America/Sao_Paulo', 'America/St_Johns', 'America/Halifax', 'America/New_York', 'America/Chicago',
  'America/Denver', 'America/Phoenix', 'America/Los_Angeles', 'America/Anchorage', 'Pacific/Marquesas', 'Pacific/Honolulu',
  'Pacific/Pago_Pago',
];
const FALLBACK = 'Europe/Berlin';
const WALL = { year: 2027, month: 3, day: 10, hour: 9, minute: 0 };
const LEAD_MS = 27 * 3_600_000;

/**
 * User i lives in zone i % 46: on the profile, except every 50th (from 7), whose zone only its
 * device knows; every 97th (from 3) has no zone at all unless its device has one (the fallback's).
 */
const profileZone = (i: number) => (i % 50 === 7 || i % 97 === 3 ? null : BENCH_ZONES[i % BENCH_ZONES.length]);
const deviceZone = (i: number) => (i % 50 === 7 ? BENCH_ZONES[i % BENCH_ZONES.length] : null);

function seedSql(n: number, now: number): string[] {
  const withSeq = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${n - 1}) `;
  const zone = `CASE i % ${BENCH_ZONES.length} ${BENCH_ZONES.map((z, k) => `WHEN ${k} THEN '${z}'`).join(' ')} END`;
  return [
    `${withSeq}INSERT INTO profiles (user_id, attributes, timezone, test, created_at, updated_at) SELECT 'u' || i, '{}', CASE WHEN i % 50 = 7 OR i % 97 = 3 THEN NULL ELSE ${zone} END, 0, ${now}, ${now} FROM seq`,
    `${withSeq}INSERT INTO devices (channel, token, website_push_id, user_id, created_at, registered_at, browser, os, timezone) SELECT 'safari', printf('%064x', i), '${PUSH_ID}', 'u' || i, ${now}, ${now}, 'safari', 'macos', CASE WHEN i % 50 = 7 THEN ${zone} ELSE NULL END FROM seq`,
    'ANALYZE',
  ];
}

interface ExpectedSend {
  dueAt: number;
  zones: string[];
  devices: number;
}

/** The sends as this file works them out on its own: each zone's 09:00 by luxon, zones with one instant together, devices counted from the seeding rule. */
function expectedSends(n: number): ExpectedSend[] {
  const perZone = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const zone = profileZone(i) ?? deviceZone(i) ?? FALLBACK;
    perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
  }
  const byInstant = new Map<number, ExpectedSend>();
  for (const zone of BENCH_ZONES) {
    const dueAt = DateTime.fromObject(WALL, { zone }).toMillis();
    const send = byInstant.get(dueAt) ?? { dueAt, zones: [], devices: 0 };
    send.zones.push(zone);
    send.devices += perZone.get(zone) ?? 0;
    byInstant.set(dueAt, send);
  }
  return [...byInstant.values()].sort((a, b) => a.dueAt - b.dueAt);
}

interface SendView {
  dueAt: string;
  zones: string[] | null;
  status: string;
  notification: { id: string; status: string; counts: { targeted: number; sent: number } } | null;
}

export async function campaignBench(ctx: CampaignBenchContext): Promise<void> {
  const dir = path.join(ctx.dir, 'campaigns');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'local-time.sqlite');
  ctx.log(`campaigns: seeding ${ctx.fmt(USERS)} users with one Safari device each in ${BENCH_ZONES.length} zones`);
  const db = openDatabase(`sqlite:${file}`);
  await migrate(db);
  for (const statement of seedSql(USERS, Date.now())) await db.raw(statement);
  await db.destroy();
  const expected = expectedSends(USERS);

  const { child, base } = await ctx.service(file);
  const stdin = child.child.stdin;
  if (!stdin) throw new Error('the clocked service has no standard input');
  let answers = '';
  child.child.stdout?.on('data', (chunk: Buffer) => {
    answers = (answers + chunk.toString()).slice(-4000);
  });
  /** Moves the service's clock to `at` and waits until it says so. */
  const setClock = async (at: number) => {
    stdin.write(`at ${at}\n`);
    for (const until = Date.now() + 10_000; !answers.includes(`clock ${at}\n`); await sleep(20)) if (Date.now() > until) throw new Error('the clocked service did not move its clock');
  };
  const firstDue = expected[0].dueAt;
  const scheduleDue = DateTime.fromObject(WALL, { zone: 'UTC' }).toMillis();
  const groups: Array<{ send: ExpectedSend; targeted: number; sent: number; startedAfter: number; took: number }> = [];
  let planned: SendView[] = [];
  let peak = 0;
  try {
    await setClock(scheduleDue - LEAD_MS - 3_600_000);
    const campaign = (await ctx.api(base, 'POST', '/api/v1/campaigns', {
      name: 'Good morning, everywhere',
      message: { title: 'Good morning', body: 'Your daily digest is here', urlArgs: ['digest', 'today'] },
      audience: { all: true },
      schedule: { type: 'at', at: '2027-03-10T09:00', timezone: 'UTC', localTime: true, fallbackTimezone: FALLBACK },
      rules: { quietHours: 'off' },
    })) as { id: string };
    await ctx.api(base, 'POST', `/api/v1/campaigns/${campaign.id}/launch`);
    const occurrences = async () => ((await ctx.api(base, 'GET', `/api/v1/campaigns/${campaign.id}/occurrences`)) as { items: Array<{ status: string; sends: SendView[] }> }).items;

    ctx.log('campaigns: planning the occurrence (27 hours ahead of 09:00 UTC)');
    await setClock(scheduleDue - LEAD_MS + 1000);
    for (const until = Date.now() + 60_000; planned.length === 0; await sleep(200)) {
      if (Date.now() > until) throw new Error('the occurrence was not planned within 60 s');
      planned = (await occurrences())[0]?.sends ?? [];
    }
    if (firstDue < scheduleDue - LEAD_MS) throw new Error('the earliest zone comes before the planning time');

    for (const [index, send] of expected.entries()) {
      ctx.log(`campaigns: zone group ${index + 1} of ${expected.length} (${send.zones.join(', ')}; ${ctx.fmt(send.devices)} devices)`);
      await setClock(send.dueAt - 1000);
      let view: SendView | undefined;
      for (const until = Date.now() + 300_000; view?.notification?.status !== 'completed'; await sleep(250)) {
        if (Date.now() > until) throw new Error(`the send due at ${new Date(send.dueAt).toISOString()} did not complete within 300 s`);
        view = (await occurrences())[0]?.sends.find((s) => Date.parse(s.dueAt) === send.dueAt);
      }
      const notification = (await ctx.api(base, 'GET', `/api/v1/notifications/${view.notification.id}`)) as { counts: { targeted: number; sent: number }; startedAt: string; finishedAt: string };
      const started = Date.parse(notification.startedAt);
      groups.push({ send, targeted: notification.counts.targeted, sent: notification.counts.sent, startedAfter: (started - send.dueAt) / 1000, took: (Date.parse(notification.finishedAt) - started) / 1000 });
    }
    peak = child.peakRssMb();
  } finally {
    await child.stop();
  }
  const sent = groups.reduce((sum, r) => sum + r.sent, 0);
  const latest = Math.max(...groups.map((r) => r.startedAfter));
  const planAgrees = planned.length === expected.length && expected.every((e) => planned.some((p) => Date.parse(p.dueAt) === e.dueAt && JSON.stringify([...(p.zones ?? [])].sort()) === JSON.stringify([...e.zones].sort())));
  const countsAgree = groups.every((r) => r.targeted === r.send.devices && r.sent === r.send.devices);
  const correct = planAgrees && countsAgree && sent === USERS;
  ctx.notes.push(
    `Local-time campaign (${ctx.fmt(USERS)} users with one Safari device each in ${BENCH_ZONES.length} zones, 09:00 on 2027-03-10 in each user's zone, ${expected.length} sends; ` +
      `the plan ${planAgrees ? 'matched' : '**did not match**'} the bench's own luxon computation, and every send's devices ${countsAgree ? 'matched' : '**did not match**'} the seeding; ` +
      'started: the notification\'s start minus the zone group\'s 09:00, on a clock moved to a second before it):',
    '',
    '| due (UTC) | zones | devices | sent | started after | took |',
    '|---|---|---|---|---|---|',
    ...groups.map((r) => `| ${new Date(r.send.dueAt).toISOString().slice(0, 16)} | ${r.send.zones.join(', ')} | ${ctx.fmt(r.targeted)} | ${ctx.fmt(r.sent)} | ${r.startedAfter.toFixed(1)} s | ${r.took.toFixed(1)} s |`),
    '',
  );
  ctx.rows.push({
    name: `Local-time campaign occurrence over ${ctx.fmt(USERS)} users in ${BENCH_ZONES.length} zones (${expected.length} sends), SQLite: peak memory of the service process (VmHWM)`,
    measured: `${peak.toFixed(0)} MB (sent ${ctx.fmt(sent)})`,
    baseline: `${MEMORY_LIMIT_MB} MB limit`,
    ratio: peak / MEMORY_LIMIT_MB,
    target: '< 1.00',
    met: peak < MEMORY_LIMIT_MB && correct,
  });
  ctx.rows.push({
    name: `The same occurrence: the latest start of a zone group after its local 09:00`,
    measured: `${latest.toFixed(1)} s (median ${[...groups].sort((a, b) => a.startedAfter - b.startedAfter)[Math.floor(groups.length / 2)].startedAfter.toFixed(1)} s)`,
    baseline: `${START_LIMIT_S} s limit`,
    ratio: latest / START_LIMIT_S,
    target: '< 1.00',
    met: latest < START_LIMIT_S && correct,
  });
}
