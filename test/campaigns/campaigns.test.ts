import { manualClock } from '../../src/clock';
import { LEASE_MS, startScheduler } from '../../src/campaigns/scheduler';
import { deviceToken } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS } from '../helpers/databases';
import { API_KEY, PUSH_ID } from '../helpers/service';

const bearer = `Bearer ${API_KEY}`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// A Monday, 08:00 in Berlin (UTC+1 in winter).
const START = Date.parse('2026-12-07T07:00:00Z');

const message = { title: 'Winter sale', body: 'Everything 20% off', urlArgs: ['sale', 'winter'] };

describe.each(BACKENDS)('campaigns (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock);
  const { api, post, get, tick } = ctx;
  const campaignCount = async () => Number((await ctx.service.context.db('campaigns').count<{ n: number }[]>({ n: '*' }))[0].n);
  const notificationsOf = async (campaignId: string) => (await ctx.service.context.db('notifications').where({ campaign_id: campaignId }).select('id', 'test')) as Array<{ id: string; test: boolean | number }>;
  const create = async (body: object) => (await post('/campaigns', { name: 'Winter sale', message, audience: { all: true }, ...body }).expect(201)).body as { id: string; status: string };
  const occurrences = async (id: string) => (await get(`/campaigns/${id}/occurrences`).expect(200)).body.items as Array<{ dueAt: string; status: string; reason: string | null; notification: { id: string; status: string; counts: Record<string, number> } | null }>;
  /** Waits until every notification of the campaign has been sent. */
  const settle = async (campaignId: string) => {
    for (const { id } of await notificationsOf(campaignId)) await ctx.service.context.queue.settled(id);
  };

  beforeAll(async () => {
    for (const user of ['ada', 'grace', 'linus']) await ctx.service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: user, now: START });
  });
  beforeEach(() => clock.set(START));

  test('when a campaign is created, then it is a draft with what was given, listed by status and label', async () => {
    const created = (await post('/campaigns', { name: 'Advent', labels: ['seasonal', 'de_DE'], message, audience: { users: ['ada'] }, schedule: { type: 'at', at: '2026-12-24T09:00', timezone: 'Europe/Berlin' } }).expect(201)).body;
    expect(created).toMatchObject({ name: 'Advent', labels: ['seasonal', 'de_DE'], status: 'draft', audience: { users: ['ada'] }, schedule: { type: 'at', at: '2026-12-24T09:00', timezone: 'Europe/Berlin' }, rules: {}, nextOccurrence: null, launchedAt: null });
    expect(created.message).toMatchObject(message);
    expect((await get(`/campaigns/${created.id}`).expect(200)).body).toEqual(created);
    const byLabel = (await get('/campaigns?label=de_DE').expect(200)).body.items.map((c: { id: string }) => c.id);
    expect(byLabel).toEqual([created.id]);
    // Exact: a label is not a pattern (no wildcard in "_", no other case).
    expect((await get('/campaigns?label=deXDE').expect(200)).body.items).toEqual([]);
    expect((await get('/campaigns?label=DE_DE').expect(200)).body.items).toEqual([]);
    expect((await get('/campaigns?status=draft').expect(200)).body.items.map((c: { id: string }) => c.id)).toContain(created.id);
    expect((await get('/campaigns?status=running').expect(200)).body.items.map((c: { id: string }) => c.id)).not.toContain(created.id);
  });

  test.each([
    ['no message', { message: undefined }, /message/],
    ['an unknown field', { colour: 'red' }, /colour/],
    ['device tokens as the audience', { audience: { tokens: ['a'.repeat(64)] } }, /audience must be/],
    ['a segment that does not exist', { audience: { segment: '00000000-0000-4000-8000-000000000000' } }, /no saved segment/],
    ['a filter that does not parse', { audience: { filter: { attribute: 'plan', op: 'sounds-like', value: 'x' } } }, /audience\.filter/],
    ['a template that does not parse', { message: { ...message, title: 'Hi {{ user.name' } }, /title is not a valid template/],
    ['an unknown schedule type', { schedule: { type: 'sometimes' } }, /schedule.type must be/],
    ['a time zone that does not exist', { schedule: { type: 'at', at: '2026-12-24T09:00', timezone: 'Mars/Olympus' } }, /IANA time zone/],
    ['a day that does not exist', { schedule: { type: 'at', at: '2026-02-30T09:00', timezone: 'UTC' } }, /wall-clock time/],
    ['a rule repeating every minute', { schedule: { type: 'recurring', rrule: 'FREQ=MINUTELY', timezone: 'UTC' } }, /at most hourly/],
    ['a label with a quote', { labels: ['a"b'] }, /label/],
    ['a name with a NUL', { name: 'a\u0000b' }, /NUL/],
    ['a name of 256 characters', { name: 'n'.repeat(256) }, /name/],
    ['a cutoff without an offset', { rules: { cutoff: '2026-12-24T18:00' } }, /cutoff/],
    ['a rule this service does not know', { rules: { sendTwice: true } }, /sendTwice/],
  ])('when a campaign has %s, then it is a 400 and nothing is stored', async (_what, change, problem) => {
    const before = await campaignCount();
    const res = await post('/campaigns', { name: 'Bad', message, audience: { all: true }, schedule: { type: 'now' }, ...change }).expect(400);
    expect(res.body.error.message).toMatch(problem);
    expect(await campaignCount()).toBe(before);
  });

  test('when a create is retried with the same Idempotency-Key, then there is one campaign and the retry gets the same answer', async () => {
    const before = await campaignCount();
    const body = { name: 'Once', message, audience: { all: true }, schedule: { type: 'now' } };
    const first = await api().post('/api/v1/campaigns').set('Authorization', bearer).set('Idempotency-Key', 'campaign-once').send(body).expect(201);
    const again = await api().post('/api/v1/campaigns').set('Authorization', bearer).set('Idempotency-Key', 'campaign-once').send(body).expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(await campaignCount()).toBe(before + 1);
  });

  test('when an "at" campaign is launched, then it fires once at that time in its zone, sends to its audience and completes', async () => {
    ctx.apns.reset();
    const { id } = await create({ audience: { users: ['ada', 'grace'] }, schedule: { type: 'at', at: '2026-12-07T09:30', timezone: 'Europe/Berlin' } });
    const launched = (await post(`/campaigns/${id}/launch`).expect(200)).body;
    expect(launched).toMatchObject({ status: 'scheduled', nextOccurrence: '2026-12-07T08:30:00.000Z', launchedAt: new Date(START).toISOString() });
    clock.advance(HOUR + 29 * 60_000); // 09:29 in Berlin
    expect((await tick()).fired).toBe(0);
    clock.advance(60_000);
    expect(await tick()).toMatchObject({ recorded: 1, fired: 1 });
    await settle(id);
    // A later round finds nothing more to do, and the campaign has ended.
    clock.advance(DAY);
    expect(await tick()).toMatchObject({ recorded: 0, fired: 0 });
    expect((await get(`/campaigns/${id}`).expect(200)).body).toMatchObject({ status: 'completed', nextOccurrence: null });
    const [occurrence] = await occurrences(id);
    expect(occurrence).toMatchObject({ dueAt: '2026-12-07T08:30:00.000Z', status: 'fired', notification: { status: 'completed', counts: { targeted: 2, sent: 2 } } });
    expect(ctx.apns.requests).toHaveLength(2);
    const notification = (await get(`/notifications/${occurrence.notification?.id}`).expect(200)).body;
    expect(notification).toMatchObject({ campaignId: id, title: 'Winter sale', to: { users: ['ada', 'grace'] } });
  });

  test('when a schedule has no time left, then the launch is a 400 and the campaign stays a draft', async () => {
    const { id } = await create({ schedule: { type: 'at', at: '2026-12-01T09:00', timezone: 'Europe/Berlin' } });
    expect((await post(`/campaigns/${id}/launch`).expect(400)).body.error.code).toBe('schedule_in_past');
    expect((await get(`/campaigns/${id}`).expect(200)).body.status).toBe('draft');
  });

  test('when a campaign moves through its life cycle, then each step is allowed only from its statuses and PATCH only while draft or paused', async () => {
    const { id } = await create({ schedule: { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=10;BYMINUTE=0', timezone: 'Europe/Berlin' } });
    expect((await api().patch(`/api/v1/campaigns/${id}`).set('Authorization', bearer).send({ name: 'Daily deal' }).expect(200)).body.name).toBe('Daily deal');
    await post(`/campaigns/${id}/resume`).expect(409);
    expect((await post(`/campaigns/${id}/launch`).expect(200)).body).toMatchObject({ status: 'scheduled', nextOccurrence: '2026-12-07T09:00:00.000Z' });
    expect((await post(`/campaigns/${id}/launch`).expect(409)).body.error).toMatchObject({ code: 'invalid_status', message: expect.stringMatching(/scheduled: only a draft can be launched/) });
    expect((await api().patch(`/api/v1/campaigns/${id}`).set('Authorization', bearer).send({ name: 'Nope' }).expect(409)).body.error.code).toBe('invalid_status');
    expect((await post(`/campaigns/${id}/pause`).expect(200)).body.status).toBe('paused');
    // Paused: nothing fires, even when its time comes.
    clock.advance(3 * HOUR);
    expect((await tick()).fired).toBe(0);
    const changed = (await api().patch(`/api/v1/campaigns/${id}`).set('Authorization', bearer).send({ schedule: { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=18;BYMINUTE=0', timezone: 'Europe/Berlin' } }).expect(200)).body;
    expect(changed).toMatchObject({ status: 'paused', nextOccurrence: '2026-12-07T17:00:00.000Z' });
    expect((await post(`/campaigns/${id}/resume`).expect(200)).body.status).toBe('scheduled');
    clock.set(Date.parse('2026-12-07T17:00:00Z'));
    expect((await tick()).fired).toBe(1);
    expect((await get(`/campaigns/${id}`).expect(200)).body).toMatchObject({ status: 'running', nextOccurrence: '2026-12-08T17:00:00.000Z' });
    expect((await post(`/campaigns/${id}/cancel`).expect(200)).body).toMatchObject({ status: 'cancelled', nextOccurrence: null });
    await post(`/campaigns/${id}/cancel`).expect(409);
    await post(`/campaigns/${id}/launch`).expect(409);
    clock.advance(2 * DAY);
    expect((await tick()).fired).toBe(0);
    expect((await occurrences(id)).map((o) => o.status)).toEqual(['fired']);
    await settle(id);
  });

  test('when the service was down over three weekly occurrences, then the latest fires at start and the two before are missed', async () => {
    const { id } = await create({ schedule: { type: 'recurring', rrule: 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0', timezone: 'Europe/Berlin' } });
    await post(`/campaigns/${id}/launch`).expect(200);
    clock.set(Date.parse('2026-12-21T12:00:00Z')); // the third Monday, afternoon
    expect(await tick()).toMatchObject({ recorded: 3, fired: 1, ended: 2 });
    const seen = await occurrences(id);
    expect(seen.map((o) => [o.dueAt, o.status])).toEqual([
      ['2026-12-21T08:00:00.000Z', 'fired'],
      ['2026-12-14T08:00:00.000Z', 'missed'],
      ['2026-12-07T08:00:00.000Z', 'missed'],
    ]);
    expect(seen[1].reason).toMatch(/^superseded/);
    expect((await get(`/campaigns/${id}`).expect(200)).body.nextOccurrence).toBe('2026-12-28T08:00:00.000Z');
    expect(await notificationsOf(id)).toHaveLength(1);
    await settle(id);
    await post(`/campaigns/${id}/cancel`).expect(200);
  });

  test('when an occurrence comes due after its cutoff (the service was down), then it is missed and nothing is sent', async () => {
    const { id } = await create({ schedule: { type: 'at', at: '2026-12-07T10:00', timezone: 'Europe/Berlin' }, rules: { cutoff: '2026-12-07T12:00:00+01:00' } });
    await post(`/campaigns/${id}/launch`).expect(200);
    clock.set(Date.parse('2026-12-07T11:30:00Z'));
    expect(await tick()).toMatchObject({ recorded: 1, fired: 0, ended: 1 });
    expect((await occurrences(id))[0]).toMatchObject({ status: 'missed', reason: expect.stringMatching(/^cutoff/), notification: null });
    expect(await notificationsOf(id)).toHaveLength(0);
    expect((await get(`/campaigns/${id}`).expect(200)).body.status).toBe('completed');
  });

  test('when nobody matches the audience, then the occurrence is empty', async () => {
    const { id } = await create({ audience: { users: ['nobody-at-all'] }, schedule: { type: 'now' } });
    await post(`/campaigns/${id}/launch`).expect(200);
    expect(await tick()).toMatchObject({ recorded: 1, planned: 1, fired: 0, ended: 1 });
    expect((await occurrences(id))[0]).toMatchObject({ status: 'fired', sends: [{ status: 'empty', reason: expect.stringMatching(/no registered device/) }], notification: null });
  });

  test('when several schedulers run rounds at once, then each occurrence fires exactly once', async () => {
    ctx.apns.reset();
    const ids = await Promise.all([1, 2, 3, 4, 5].map(() => create({ audience: { users: ['linus'] }, schedule: { type: 'now' } }).then((c) => c.id)));
    for (const id of ids) await post(`/campaigns/${id}/launch`).expect(200);
    const { campaigns, notifications, segments, queue, logger } = ctx.service.context;
    const others = [1, 2, 3].map(() => startScheduler({ campaigns, notifications, segments, queue, clock, logger, intervalMs: 0, urlFormatString: ctx.service.context.website.urlFormatString, links: { clickTracking: false, serviceUrl: ctx.service.context.website.webServiceURL } }));
    try {
      const rounds = await Promise.all([tick(), ...others.map((s) => s.tick()), tick(), ...others.map((s) => s.tick())]);
      expect(rounds.reduce((sum, r) => sum + r.fired, 0)).toBe(5);
      expect(rounds.reduce((sum, r) => sum + r.recorded, 0)).toBe(5);
    } finally {
      await Promise.all(others.map((s) => s.stop()));
    }
    for (const id of ids) {
      expect(await notificationsOf(id)).toHaveLength(1);
      await settle(id);
    }
    expect(ctx.apns.requests).toHaveLength(5);
  });

  test('when the process firing an occurrence died holding its lease, then another fires it once the lease runs out, and only once', async () => {
    const { id } = await create({ audience: { users: ['grace'] }, schedule: { type: 'now' } });
    await post(`/campaigns/${id}/launch`).expect(200);
    const { campaigns } = ctx.service.context;
    // A process records the occurrence, takes its lease, creates its notification and dies before queueing it.
    const [due] = await campaigns.due(clock.now(), 10);
    await campaigns.advance(due.id, due.nextAt as number, null, [due.nextAt as number], clock.now());
    const [occurrence] = await campaigns.claimable(clock.now(), 10);
    expect(await campaigns.claim(occurrence.id, 'dead-process', clock.now(), clock.now() + LEASE_MS)).toBe(true);
    expect(await tick()).toMatchObject({ fired: 0 });
    clock.advance(LEASE_MS + 1);
    expect(await tick()).toMatchObject({ fired: 1 });
    expect(await campaigns.settle(occurrence.id, 'dead-process', 'fired', null, clock.now())).toBe(false);
    expect(await notificationsOf(id)).toHaveLength(1);
    await settle(id);
    expect((await occurrences(id))[0]).toMatchObject({ status: 'fired', notification: { counts: { sent: 1 } } });
  });

  test('when an occurrence has more sends than one INSERT takes (a long throttle), then they are all stored', async () => {
    const { id } = await create({ audience: { users: ['ada'] }, schedule: { type: 'now' } });
    await post(`/campaigns/${id}/launch`).expect(200);
    const { campaigns } = ctx.service.context;
    const [due] = (await campaigns.due(clock.now(), 100)).filter((c) => c.id === id);
    await campaigns.advance(due.id, due.nextAt as number, null, [due.nextAt as number], clock.now());
    const [occurrence] = (await campaigns.claimable(clock.now(), 100)).filter((o) => o.campaignId === id);
    expect(await campaigns.claim(occurrence.id, 'planner', clock.now(), clock.now() + LEASE_MS)).toBe(true);
    const slices = Array.from({ length: 1440 }, (_, index) => ({ dueAt: clock.now() + index * 60_000, kind: 'send' as const, zones: null, slice: { count: 1440, index } }));
    expect(await campaigns.plan(occurrence, 'planner', slices, clock.now())).toBe(true);
    expect(await campaigns.sendsOf([occurrence.id])).toHaveLength(1440);
    await post(`/campaigns/${id}/cancel`).expect(200);
  });

  test('when a test send is asked, then the test profiles get the message now, marked as a test, and the campaign does not change', async () => {
    ctx.apns.reset();
    const tester = deviceToken();
    await ctx.service.context.devices.register({ token: tester, websitePushId: PUSH_ID, userId: 'tess', now: START });
    await ctx.service.context.audience.put('tess', { attributes: {}, test: true }, START);
    const { id } = await create({ schedule: { type: 'at', at: '2027-01-05T09:00', timezone: 'Europe/Berlin' } });
    const accepted = (await post(`/campaigns/${id}/test`).expect(202)).body;
    expect(accepted).toMatchObject({ status: 'queued', test: true, users: 1 });
    await ctx.service.context.queue.settled(accepted.id);
    expect(ctx.apns.requests.map((r) => r.token)).toEqual([tester]);
    expect((await get(`/notifications/${accepted.id}`).expect(200)).body).toMatchObject({ campaignId: id, test: true, counts: { sent: 1 } });
    // Given user ids instead of the test profiles.
    const named = (await post(`/campaigns/${id}/test`, { userIds: ['ada'] }).expect(202)).body;
    await ctx.service.context.queue.settled(named.id);
    expect((await get(`/notifications/${named.id}`).expect(200)).body.to).toEqual({ users: ['ada'] });
    expect((await post(`/campaigns/${id}/test`, { userIds: [] }).expect(400)).body.error.message).toMatch(/userIds/);
    expect((await get(`/campaigns/${id}`).expect(200)).body.status).toBe('draft');
    expect(await occurrences(id)).toEqual([]);
  });

  test('when an id is not a campaign, then every route answers 404', async () => {
    for (const path of ['/campaigns/nope', '/campaigns/00000000-0000-4000-8000-000000000000', '/campaigns/00000000-0000-4000-8000-000000000000/occurrences']) await get(path).expect(404);
    for (const action of ['launch', 'pause', 'resume', 'cancel', 'test']) await post(`/campaigns/00000000-0000-4000-8000-000000000000/${action}`).expect(404);
  });
});
