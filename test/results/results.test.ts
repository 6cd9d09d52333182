import crypto from 'node:crypto';
import { manualClock } from '../../src/clock';
import { deviceToken } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS } from '../helpers/databases';
import { API_KEY, PUSH_ID } from '../helpers/service';

const START = Date.parse('2026-12-07T09:00:00Z');
const HOUR = 3_600_000;
const message = { title: 'Winter sale', body: 'Everything 20% off', urlArgs: ['sale', 'winter'] };
const USERS = 300;

/** The control group and variant split as the docs define it, computed here on its own. */
const bucket = (campaignId: string, user: string) => Number.parseInt(crypto.createHash('md5').update(`${campaignId}:u:${user}`).digest('hex').slice(0, 8), 16) % 10_000;

/** The standard normal density integrated by Simpson's rule: an independent check of the report's p-value. */
function twoSidedPByIntegration(z: number): number {
  const a = 0;
  const b = Math.abs(z);
  const n = 20_000;
  const h = (b - a) / n;
  const f = (x: number) => Math.exp(-(x * x) / 2) / Math.sqrt(2 * Math.PI);
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += f(a + i * h) * (i % 2 === 1 ? 4 : 2);
  return 2 * (0.5 - (sum * h) / 3);
}

describe.each(BACKENDS)('results: conversions, control groups, A/B variants and reports (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock, { CLICK_TRACKING: 'true' });
  const { post, get, tick } = ctx;
  const tokens = new Map<string, string>();
  const userOfToken = (token: string) => [...tokens].find(([, t]) => t === token)?.[0];

  beforeAll(async () => {
    for (let i = 0; i < USERS; i++) {
      const token = deviceToken();
      tokens.set(`u${i}`, token);
      await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: `u${i}`, now: START - HOUR });
    }
  });
  beforeEach(() => ctx.apns.reset());

  const launch = async (body: object) => {
    const { id } = (await post('/campaigns', { name: 'Sale', message, audience: { all: true }, schedule: { type: 'now' }, ...body }).expect(201)).body as { id: string };
    await post(`/campaigns/${id}/launch`).expect(200);
    return id;
  };
  const settleAll = async (id: string) => {
    const notifications = (await ctx.service.context.db('notifications').where({ campaign_id: id }).select('id')) as Array<{ id: string }>;
    for (const n of notifications) await ctx.service.context.queue.settled(n.id);
  };
  /** Past the few seconds conversions wait for on PostgreSQL, then a round. */
  const later = async (ms: number) => {
    clock.advance(ms);
    return tick();
  };

  test('when a campaign holds back 20% and has a goal, then the held-out users get nothing, conversions count once per user with every purchase in revenue, and the lift and p-value match an independent computation', async () => {
    clock.set(START);
    const id = await launch({ controlGroupPercent: 20, goal: { event: 'purchased', within: '1d', revenueProperty: 'amount' } });
    expect(await tick()).toMatchObject({ fired: 1 });
    await settleAll(id);
    const control = new Set([...tokens.keys()].filter((user) => bucket(id, user) < 2000));
    const treated = [...tokens.keys()].filter((user) => !control.has(user));
    expect(control.size).toBeGreaterThan(30);
    // Nobody in the control group was sent anything; everyone else was, once.
    expect(ctx.apns.requests.map((r) => userOfToken(r.token)).sort()).toEqual([...treated].sort());

    // Purchases an hour later: every 4th treated user (twice, 10 and 5), every 6th control user (once, 7).
    const events: object[] = [];
    treated.forEach((user, i) => {
      if (i % 4 === 0) events.push({ name: 'purchased', userId: user, time: new Date(START + HOUR).toISOString(), properties: { amount: 10 } }, { name: 'purchased', userId: user, time: new Date(START + 2 * HOUR).toISOString(), properties: { amount: 5 } });
    });
    [...control].forEach((user, i) => {
      if (i % 6 === 0) events.push({ name: 'purchased', userId: user, time: new Date(START + HOUR).toISOString(), properties: { amount: 7 } });
    });
    // Not conversions: before the send, after the window, another event.
    events.push({ name: 'purchased', userId: treated[1], time: new Date(START - HOUR).toISOString(), properties: { amount: 1000 } });
    events.push({ name: 'viewed', userId: treated[2], time: new Date(START + HOUR).toISOString() });
    clock.set(START + 3 * HOUR);
    await post('/events', { events }).expect(202);
    await post('/events', { events: [{ name: 'purchased', userId: treated[3], time: new Date(START + 3 * HOUR).toISOString(), properties: { amount: 2000 } }] }).expect(202);
    clock.set(START + 26 * HOUR);
    await post('/events', { events: [{ name: 'purchased', userId: treated[5], time: new Date(START + 26 * HOUR).toISOString(), properties: { amount: 3000 } }] }).expect(202);
    const round = await later(10_000);
    const treatedBuyers = treated.filter((_, i) => i % 4 === 0).length;
    const controlBuyers = [...control].filter((_, i) => i % 6 === 0).length;
    // treated[3] bought at +3 h (within the day, so it counts); treated[5] at +26 h does not.
    const expectedTreated = treatedBuyers + (3 % 4 === 0 ? 0 : 1);
    expect(round.converted).toBe(treatedBuyers * 2 + controlBuyers + 1);

    const report = (await get(`/campaigns/${id}/report`).expect(200)).body;
    expect(report.totals).toMatchObject({ targeted: USERS, sent: treated.length, heldOut: control.size, users: treated.length, converted: expectedTreated, revenue: treatedBuyers * 15 + 2000 });
    expect(report.control).toMatchObject({ users: control.size, converted: controlBuyers, revenue: controlBuyers * 7 });
    const p1 = expectedTreated / treated.length;
    const p2 = controlBuyers / control.size;
    const pooled = (expectedTreated + controlBuyers) / USERS;
    const z = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1 / treated.length + 1 / control.size));
    expect(report.lift.absolute).toBeCloseTo(p1 - p2, 12);
    expect(report.lift.relative).toBeCloseTo((p1 - p2) / p2, 12);
    expect(report.lift.pValue).toBeCloseTo(twoSidedPByIntegration(z), 6);
    expect(report.lift.treated).toEqual({ users: treated.length, converted: expectedTreated });
    expect(report.byChannel.safari.shown).toBeNull();
    expect(report.series.map((p: { at: string }) => p.at)).toContain(new Date(START).toISOString());

    // The held-out deliveries are recorded as such, one per control device.
    const notifications = (await ctx.service.context.db('notifications').where({ campaign_id: id }).select('id', 'control')) as Array<{ id: string; control: boolean | number }>;
    const held = notifications.find((n) => Boolean(n.control));
    const heldDeliveries = (await get(`/notifications/${held?.id}/deliveries?outcome=held_out&limit=100`).expect(200)).body.items;
    expect(heldDeliveries[0]).toMatchObject({ outcome: 'held_out', reason: 'control_group' });
    expect(await ctx.service.context.db('deliveries').where({ notification_id: held?.id, outcome: 'held_out' }).count<{ n: number }[]>({ n: '*' })).toEqual([{ n: control.size }]);
    const sent = notifications.find((n) => !n.control);
    expect((await get(`/notifications/${sent?.id}`).expect(200)).body.counts).toMatchObject({ sent: treated.length, converted: expectedTreated, revenue: treatedBuyers * 15 + 2000 });

    const csv = (await get(`/campaigns/${id}/report?format=csv`).expect(200).expect('content-type', /text\/csv/)).text;
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('section,name,targeted,sent,failed,removed,skipped,heldOut,shown,clicked,converted,revenue,users,clickRate,conversionRate,liftAbsolute,liftRelative,pValue,ci95Low,ci95High');
    expect(lines[1].startsWith(`total,all,${USERS},${treated.length},0,0,0,${control.size},`)).toBe(true);
    // The control row carries the lift, its p-value and interval, as the JSON has them.
    const controlRow = lines.find((line) => line.startsWith('control,control,'))?.split(',') ?? [];
    expect(Number(controlRow[17])).toBeCloseTo(report.lift.pValue, 12);
    expect(Number(controlRow[15])).toBeCloseTo(p1 - p2, 12);

    // A round again finds nothing new: each event counted once.
    expect((await later(10_000)).converted).toBe(0);
  });

  test('when a campaign tests two variants with a winner on clicks, then the test share goes out split by weight, the variant clicked more goes to the rest later, and the report compares them', async () => {
    clock.set(START + 100 * HOUR);
    const id = await launch({
      variants: [
        { name: 'A', weight: 1, message: { title: 'Sale: 20% off' } },
        { name: 'B', weight: 1, message: { title: 'Only today: 20% off' } },
      ],
      winner: { metric: 'clicks', after: '2h', testPercent: 40 },
    });
    expect(await tick()).toMatchObject({ fired: 1 });
    await settleAll(id);
    const testShare = [...tokens.keys()].filter((user) => bucket(id, user) < 4000);
    const inB = new Set(testShare.filter((user) => bucket(id, user) >= 2000));
    expect(ctx.apns.requests.map((r) => userOfToken(r.token)).sort()).toEqual([...testShare].sort());
    // Each got its variant's title; B's are all clicked, A's never.
    for (const request of ctx.apns.requests) {
      const alert = (request.payload as { aps: { alert: { title: string }; 'url-args': string[] } }).aps;
      const user = userOfToken(request.token) as string;
      expect(alert.alert.title).toBe(inB.has(user) ? 'Only today: 20% off' : 'Sale: 20% off');
      if (inB.has(user)) await ctx.api().get(`/click/${alert['url-args'][0]}`).expect(302);
    }
    ctx.apns.reset();
    expect((await later(HOUR)).fired).toBe(0);
    // While the winner waits, the split is fixed: no change to the control group or variants.
    await post(`/campaigns/${id}/pause`).expect(200);
    expect((await ctx.patch(`/campaigns/${id}`, { controlGroupPercent: 10 }).expect(409)).body.error.code).toBe('results_locked');
    await post(`/campaigns/${id}/resume`).expect(200);
    expect((await later(HOUR)).fired).toBe(1);
    await settleAll(id);
    const rest = [...tokens.keys()].filter((user) => bucket(id, user) >= 4000);
    expect(ctx.apns.requests.map((r) => userOfToken(r.token)).sort()).toEqual([...rest].sort());
    expect(new Set(ctx.apns.requests.map((r) => (r.payload as { aps: { alert: { title: string } } }).aps.alert.title))).toEqual(new Set(['Only today: 20% off']));
    const report = (await get(`/campaigns/${id}/report`).expect(200)).body;
    const byName = Object.fromEntries(report.variants.map((v: { name: string }) => [v.name, v]));
    // The variants compare their test sends; the winner's sends to the rest are apart.
    expect(byName.A).toMatchObject({ sent: testShare.length - inB.size, clicked: 0 });
    expect(byName.B).toMatchObject({ sent: inB.size, clicked: inB.size, clickRate: 1 });
    expect(report.winner).toMatchObject({ name: 'B', sent: rest.length, clicked: 0 });
    expect(report.totals).toMatchObject({ targeted: USERS, sent: USERS, clicked: inB.size });
    expect(report.control).toBeNull();
    expect(report.lift).toBeNull();
    const occurrences = (await get(`/campaigns/${id}/occurrences`).expect(200)).body.items;
    expect(occurrences[0].sends.map((s: { kind: string }) => s.kind)).toEqual(['send', 'winner']);
    expect(occurrences[0].sends[0].parts.map((p: { name: string; notification: { counts: { sent: number } } }) => [p.name, p.notification.counts.sent])).toEqual([
      ['A', testShare.length - inB.size],
      ['B', inB.size],
    ]);
    expect(occurrences[0].sends[1].notification).toMatchObject({ variant: 'B', counts: { sent: rest.length } });
    expect(occurrences[0].counts).toMatchObject({ targeted: USERS, sent: USERS });
    expect((await get(`/campaigns/${id}/report?occurrence=999999`).expect(404)).body.error.code).toBe('not_found');
    // One occurrence's report is the same here.
    expect((await get(`/campaigns/${id}/report?occurrence=${occurrences[0].id}`).expect(200)).body.totals).toEqual(report.totals);
  });

  test('when a goal has "after": "click", then only purchases after a click convert; a plain send with a goal reports converted and revenue', async () => {
    clock.set(START + 200 * HOUR);
    const users = ['u1', 'u2', 'u3'];
    const { id } = (await post('/notifications', { ...message, to: { users }, goal: { event: 'signup', within: '2h', after: 'click' } }).expect(202)).body as { id: string };
    await ctx.service.context.queue.settled(id);
    const clicked = ctx.apns.requests.find((r) => userOfToken(r.token) === 'u1');
    const ref = (clicked?.payload as { aps: { 'url-args': string[] } }).aps['url-args'][0];
    clock.set(START + 200 * HOUR + 10 * 60_000);
    await ctx.api().get(`/click/${ref}`).expect(302);
    clock.set(START + 200 * HOUR + 20 * 60_000);
    const at = new Date(clock.now()).toISOString();
    await post('/events', { events: users.map((userId) => ({ name: 'signup', userId, time: at })) }).expect(202);
    expect((await later(10_000)).converted).toBe(1);
    const view = (await get(`/notifications/${id}`).expect(200)).body;
    expect(view.counts).toMatchObject({ sent: 3, clicked: 1, converted: 1, revenue: 0 });
    expect(view.goal).toMatchObject({ event: 'signup', after: 'click' });
  });

  test('when a goal event carries an absurd amount (as a page could send), then its revenue is bounded and counting goes on', async () => {
    clock.set(START + 500 * HOUR);
    const { id } = (await post('/notifications', { ...message, to: { users: ['u7', 'u8'] }, goal: { event: 'order', within: '1d', revenueProperty: 'amount' } }).expect(202)).body as { id: string };
    await ctx.service.context.queue.settled(id);
    const at = new Date(clock.now() + 60_000).toISOString();
    clock.advance(120_000);
    await post('/events', { events: [{ name: 'order', userId: 'u7', time: at, properties: { amount: 1e308 } }, { name: 'order', userId: 'u7', time: at, properties: { amount: 1e308 } }] }).expect(202);
    expect((await later(10_000)).converted).toBe(2);
    await post('/events', { events: [{ name: 'order', userId: 'u8', time: at, properties: { amount: '12.5' } }] }).expect(202);
    expect((await later(10_000)).converted).toBe(1);
    expect((await get(`/notifications/${id}`).expect(200)).body.counts).toMatchObject({ converted: 2, revenue: 2e9 + 12.5 });
    // The export shows a user's conversions; erasure takes them (the counts they made stay).
    expect((await get('/users/u8/export').expect(200)).body.conversions).toContainEqual(expect.objectContaining({ notificationId: id, revenue: 12.5 }));
    await ctx.api().delete('/api/v1/users/u8').set('Authorization', `Bearer ${API_KEY}`).expect(204);
    expect(await ctx.service.context.db('conversions').where({ user_key: 'u:u8' }).count<{ n: number }[]>({ n: '*' })).toEqual([{ n: 0 }]);
    expect((await get(`/notifications/${id}`).expect(200)).body.counts).toMatchObject({ converted: 2 });
  });

  test('when a triggered campaign holds back half, then each user\'s entry follows their bucket: the control half is held out, the rest get the variant of their bucket', async () => {
    clock.set(START + 300 * HOUR);
    const id = await launch({
      schedule: { type: 'event', event: 'added_to_cart', delay: '10m' },
      controlGroupPercent: 50,
      variants: [
        { name: 'plain', weight: 1 },
        { name: 'urgent', weight: 1, message: { title: 'Your cart is waiting' } },
      ],
      goal: { event: 'purchased', within: '1d' },
    });
    const users = [...tokens.keys()].slice(10, 50);
    await post('/events', { events: users.map((userId) => ({ name: 'added_to_cart', userId, time: new Date(clock.now()).toISOString() })) }).expect(202);
    await later(10_000);
    expect((await later(10 * 60_000)).fired).toBe(users.length);
    await settleAll(id);
    const held = users.filter((user) => bucket(id, user) < 5000);
    const urgent = users.filter((user) => bucket(id, user) >= 7500);
    expect(held.length).toBeGreaterThan(5);
    const reached = ctx.apns.requests.map((r) => userOfToken(r.token) as string);
    expect(reached.sort()).toEqual(users.filter((user) => !held.includes(user)).sort());
    for (const r of ctx.apns.requests) expect((r.payload as { aps: { alert: { title: string } } }).aps.alert.title).toBe(urgent.includes(userOfToken(r.token) as string) ? 'Your cart is waiting' : message.title);
    const report = (await get(`/campaigns/${id}/report`).expect(200)).body;
    expect(report.totals).toMatchObject({ targeted: users.length, sent: users.length - held.length, heldOut: held.length });
    expect(report.control).toMatchObject({ users: held.length, converted: 0 });
  });

  test('when devices are gone, then the report groups its failures by reason, counted as they were recorded', async () => {
    clock.set(START + 400 * HOUR);
    ctx.apns.scriptPrefix('dead', { status: 410, reason: 'Unregistered' });
    for (const user of ['gone1', 'gone2']) await ctx.service.context.devices.register({ token: `dead${crypto.randomBytes(30).toString('hex')}`, websitePushId: PUSH_ID, userId: user, now: clock.now() });
    const id = await launch({ audience: { users: ['gone1', 'gone2', 'u1'] } });
    expect(await tick()).toMatchObject({ fired: 1 });
    await settleAll(id);
    const report = (await get(`/campaigns/${id}/report`).expect(200)).body;
    expect(report.totals).toMatchObject({ targeted: 3, sent: 1, removed: 2 });
    expect(report.failures).toEqual([{ outcome: 'removed', reason: 'Unregistered', count: 2 }]);
  });

  test('when a shown link is forged, is a click link, or names a Safari delivery, then nothing is counted', async () => {
    const [delivery] = (await ctx.service.context.db('deliveries').where({ channel: 'safari' }).limit(1).select('id', 'notification_id')) as Array<{ id: number; notification_id: string }>;
    const refs = ctx.service.context.clickRefs;
    // Legacy Safari cannot show-report: a signed link to a Safari delivery counts nothing.
    await ctx.api().post(`/shown/${refs.signShown({ notificationId: delivery.notification_id, deliveryId: delivery.id })}`).expect(204);
    expect(await ctx.service.context.db('deliveries').whereNotNull('shown_at').count<{ n: number }[]>({ n: '*' })).toEqual([{ n: 0 }]);
    const click = refs.sign({ notificationId: delivery.notification_id, deliveryId: delivery.id, urlArgs: [], target: 0 });
    expect((await ctx.api().post(`/shown/${click}`).expect(400)).body.error.code).toBe('invalid_shown_ref');
    const shown = refs.signShown({ notificationId: delivery.notification_id, deliveryId: delivery.id });
    expect((await ctx.api().get(`/click/${shown}`).expect(400)).body.error.code).toBe('invalid_click_ref');
    expect((await ctx.api().post(`/shown/${shown.slice(0, -2)}xx`).expect(400)).body.error.code).toBe('invalid_shown_ref');
  });

  test('when result fields are wrong, then the create is a 400 naming them and nothing is stored', async () => {
    const before = await ctx.service.context.db('campaigns').count<{ n: number }[]>({ n: '*' });
    const bad = [
      { controlGroupPercent: 60 },
      { controlGroupPercent: 10.123 },
      { variants: [{ name: 'A', weight: 1 }] },
      { variants: [{ name: 'A', weight: 1 }, { name: 'a', weight: 1 }] },
      { variants: [{ name: 'A', weight: 1 }, { name: 'control', weight: 1 }] },
      { variants: [{ name: 'A', weight: 1, message: { title: '' } }, { name: 'B', weight: 1 }] },
      { variants: [{ name: 'A', weight: 1, message: { nope: 1 } }, { name: 'B', weight: 1 }] },
      { winner: { metric: 'clicks', after: '1h', testPercent: 10 } },
      { variants: [{ name: 'A', weight: 1 }, { name: 'B', weight: 1 }], winner: { metric: 'conversions', after: '1h', testPercent: 10 } },
      { goal: { event: 'purchased', within: '40d' } },
      { goal: { event: 'purchased', within: '1d', after: 'view' } },
      { schedule: { type: 'event', event: 'added_to_cart' }, variants: [{ name: 'A', weight: 1 }, { name: 'B', weight: 1 }], winner: { metric: 'clicks', after: '1h', testPercent: 10 } },
    ];
    for (const fields of bad) {
      const res = await post('/campaigns', { name: 'Bad', message, audience: { all: true }, schedule: { type: 'now' }, ...fields });
      expect([res.status, JSON.stringify(fields)]).toEqual([400, JSON.stringify(fields)]);
    }
    expect(await ctx.service.context.db('campaigns').count<{ n: number }[]>({ n: '*' })).toEqual(before);
    const unknown = await get('/campaigns/00000000-0000-4000-8000-000000000000/report');
    expect(unknown.status).toBe(404);
  });
});
