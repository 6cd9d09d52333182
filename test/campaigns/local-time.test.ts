import request from 'supertest';
import { manualClock } from '../../src/clock';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID } from '../helpers/service';

const bearer = `Bearer ${API_KEY}`;
const START = Date.parse('2026-12-07T07:00:00Z');
const message = { title: 'Good morning', body: 'Your daily brief', urlArgs: ['brief', 'daily'] };

interface SendView {
  dueAt: string;
  kind: string;
  skipReason?: string;
  zones: string[] | null;
  status: string;
  notification: { id: string; counts: Record<string, number> } | null;
}

describe.each(BACKENDS)('campaigns in local time and around quiet hours (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock);
  const { post, get, tick } = ctx;
  /** user id -> its device token */
  const tokens = new Map<string, string>();
  const launch = async (body: object) => {
    const { id } = (await post('/campaigns', { name: 'Brief', message, ...body }).expect(201)).body as { id: string };
    await post(`/campaigns/${id}/launch`).expect(200);
    return id;
  };
  const occurrence = async (id: string) => ((await get(`/campaigns/${id}/occurrences`).expect(200)).body.items as Array<{ status: string; counts: Record<string, number>; sends: SendView[] }>)[0];
  const settled = async (id: string) => {
    for (const send of (await occurrence(id)).sends) if (send.notification) await ctx.service.context.queue.settled(send.notification.id);
  };
  const reached = () => ctx.apns.requests.map((r) => [...tokens].find(([, token]) => token === r.token)?.[0]).sort();

  beforeAll(async () => {
    // tokyo: the profile names the zone; newyork: only the device does (the profile says nothing);
    // nowhere: neither, so the fallback zone holds; berlin: the profile again.
    for (const user of ['tokyo', 'newyork', 'nowhere', 'berlin']) {
      const token = deviceToken();
      tokens.set(user, token);
      await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: user, now: START });
    }
    await ctx.service.context.audience.put('tokyo', { attributes: {}, timezone: 'Asia/Tokyo' }, START);
    await ctx.service.context.audience.put('berlin', { attributes: {}, timezone: 'Europe/Berlin' }, START);
    await ctx.service.context.audience.put('newyork', { attributes: {} }, START);
    await ctx.service.context.db('devices').where({ user_id: 'newyork' }).update({ timezone: 'America/New_York' });
    // A zone profile beats the device's own: this device says Tokyo, its user says Berlin.
    await ctx.service.context.db('devices').where({ user_id: 'berlin' }).update({ timezone: 'Asia/Tokyo' });
  });
  beforeEach(() => {
    clock.set(START);
    ctx.apns.reset();
  });

  test('when a campaign is at 09:00 in local time, then each user gets it at 09:00 on their own clock, zone by zone, and the fallback zone takes the rest', async () => {
    const id = await launch({ audience: { users: [...tokens.keys()] }, schedule: { type: 'at', at: '2026-12-10T09:00', timezone: 'Europe/Berlin', localTime: true, fallbackTimezone: 'Europe/London' } });
    // Planned 27 hours ahead of 09:00 in Berlin, so Tokyo (UTC+9) is on time.
    clock.set(Date.parse('2026-12-09T04:59:00Z'));
    expect(await tick()).toMatchObject({ recorded: 0, planned: 0 });
    clock.set(Date.parse('2026-12-09T05:00:00Z'));
    expect(await tick()).toMatchObject({ recorded: 1, planned: 1, fired: 0 });
    const planned = await occurrence(id);
    expect(planned.sends.map((s) => [s.dueAt, s.zones])).toEqual([
      ['2026-12-10T00:00:00.000Z', ['Asia/Tokyo']],
      ['2026-12-10T08:00:00.000Z', ['Europe/Berlin']],
      ['2026-12-10T09:00:00.000Z', ['Europe/London']],
      ['2026-12-10T14:00:00.000Z', ['America/New_York']],
    ]);
    const at = async (time: string, users: string[]) => {
      ctx.apns.reset();
      clock.set(Date.parse(time));
      expect((await tick()).fired).toBe(1);
      await settled(id);
      expect(reached()).toEqual(users);
      // Every time the send records comes from the service's clock, which stands still here.
      const send = (await occurrence(id)).sends.find((s) => s.dueAt === new Date(Date.parse(time)).toISOString());
      const notification = (await get(`/notifications/${send?.notification?.id}`).expect(200)).body as { startedAt: string; finishedAt: string };
      expect([notification.startedAt, notification.finishedAt]).toEqual([new Date(Date.parse(time)).toISOString(), new Date(Date.parse(time)).toISOString()]);
      const deliveries = (await get(`/notifications/${send?.notification?.id}/deliveries`).expect(200)).body.items as Array<{ updatedAt: string }>;
      expect(deliveries.map((d) => d.updatedAt)).toEqual([new Date(Date.parse(time)).toISOString()]);
    };
    await at('2026-12-10T00:00:00Z', ['tokyo']);
    await at('2026-12-10T08:00:00Z', ['berlin']);
    await at('2026-12-10T09:00:00Z', ['nowhere']);
    await at('2026-12-10T14:00:00Z', ['newyork']);
    const done = await occurrence(id);
    expect(done.counts).toMatchObject({ targeted: 4, sent: 4, skipped: 0, pending: 0 });
    expect(done.sends.every((s) => s.status === 'fired')).toBe(true);
    expect((await get(`/campaigns/${id}`).expect(200)).body.status).toBe('completed');
  });

  test('when a zone\'s send comes after the cutoff, then its devices are skipped with reason cutoff, and the earlier zones were sent', async () => {
    const id = await launch({
      audience: { users: ['tokyo', 'newyork'] },
      schedule: { type: 'at', at: '2026-12-10T09:00', timezone: 'Europe/Berlin', localTime: true },
      rules: { cutoff: '2026-12-10T12:00:00Z' },
    });
    clock.set(Date.parse('2026-12-10T00:00:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 1 });
    clock.set(Date.parse('2026-12-10T14:00:00Z'));
    expect(await tick()).toMatchObject({ fired: 1 });
    await settled(id);
    expect(reached()).toEqual(['tokyo']);
    const { counts, sends } = await occurrence(id);
    expect(counts).toMatchObject({ sent: 1, skipped: 1 });
    const late = sends.find((s) => s.zones?.includes('America/New_York'));
    const deliveries = (await get(`/notifications/${late?.notification?.id}/deliveries`).expect(200)).body.items;
    expect(deliveries).toEqual([expect.objectContaining({ outcome: 'skipped', reason: 'cutoff' })]);
    expect((await get(`/notifications/${late?.notification?.id}/deliveries?outcome=skipped`).expect(200)).body.items).toHaveLength(1);
  });

  test('when a send falls in quiet hours with "delay", then those zones get it when the window ends on their clock', async () => {
    // 22:00 in Berlin: 06:00 in Tokyo, 16:00 in New York.
    const id = await launch({ audience: { users: ['tokyo', 'newyork', 'berlin'] }, schedule: { type: 'at', at: '2026-12-07T22:00', timezone: 'Europe/Berlin' }, rules: { quietHours: { from: '21:00', to: '09:00', policy: 'delay' } } });
    clock.set(Date.parse('2026-12-07T21:00:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 1 });
    await settled(id);
    expect(reached()).toEqual(['newyork']);
    clock.set(Date.parse('2026-12-08T00:00:00Z'));
    ctx.apns.reset();
    expect((await tick()).fired).toBe(1);
    await settled(id);
    expect(reached()).toEqual(['tokyo']);
    clock.set(Date.parse('2026-12-08T08:00:00Z'));
    ctx.apns.reset();
    expect((await tick()).fired).toBe(1);
    await settled(id);
    expect(reached()).toEqual(['berlin']);
    expect((await occurrence(id)).counts).toMatchObject({ sent: 3, skipped: 0 });
  });

  test('when a send falls in quiet hours with "discard", then those devices are skipped with reason quiet_hours at once, and counted', async () => {
    const id = await launch({ audience: { users: ['tokyo', 'newyork', 'berlin'] }, schedule: { type: 'at', at: '2026-12-07T22:00', timezone: 'Europe/Berlin' }, rules: { quietHours: { from: '21:00', to: '09:00', policy: 'discard' } } });
    clock.set(Date.parse('2026-12-07T21:00:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 2 });
    await settled(id);
    expect(reached()).toEqual(['newyork']);
    const { counts, sends } = await occurrence(id);
    expect(counts).toMatchObject({ targeted: 3, sent: 1, skipped: 2, pending: 0 });
    const skip = sends.find((s) => s.kind === 'skip');
    expect(skip).toMatchObject({ skipReason: 'quiet_hours', zones: ['Asia/Tokyo', 'Europe/Berlin'], notification: { counts: { skipped: 2 } } });
    const deliveries = (await get(`/notifications/${skip?.notification?.id}/deliveries`).expect(200)).body.items as Array<{ outcome: string; reason: string }>;
    expect(deliveries.map((d) => [d.outcome, d.reason])).toEqual([
      ['skipped', 'quiet_hours'],
      ['skipped', 'quiet_hours'],
    ]);
    expect((await get(`/notifications/${skip?.notification?.id}`).expect(200)).body).toMatchObject({ status: 'completed', counts: { skipped: 2, pending: 0 } });
    expect((await get(`/campaigns/${id}`).expect(200)).body.status).toBe('completed');
  });

  test('when quiet hours are "off" for a campaign, then it goes to everyone at once, night or not', async () => {
    const id = await launch({ audience: { users: ['tokyo', 'berlin'] }, schedule: { type: 'at', at: '2026-12-07T23:00', timezone: 'Europe/Berlin' }, rules: { quietHours: 'off' } });
    clock.set(Date.parse('2026-12-07T22:00:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 1 });
    await settled(id);
    expect(reached()).toEqual(['berlin', 'tokyo']);
    expect((await occurrence(id)).sends).toEqual([expect.objectContaining({ zones: null })]);
  });

  test('when a delayed send is held up past the start of its zone\'s next quiet hours (downtime), then it waits for the end of those too', async () => {
    // 20:30 in Berlin is 04:30 in Tokyo: Tokyo's send waits for 09:00 there (00:00 UTC).
    const id = await launch({ audience: { users: ['tokyo', 'berlin'] }, schedule: { type: 'at', at: '2026-12-07T20:30', timezone: 'Europe/Berlin' }, rules: { quietHours: { from: '21:00', to: '09:00', policy: 'delay' } } });
    clock.set(Date.parse('2026-12-07T19:30:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 1 });
    await settled(id);
    expect(reached()).toEqual(['berlin']);
    ctx.apns.reset();
    // The service was down until 22:00 in Tokyo: quiet again there.
    clock.set(Date.parse('2026-12-08T13:00:00Z'));
    expect(await tick()).toMatchObject({ fired: 0 });
    const tokyo = (await occurrence(id)).sends.find((s) => s.zones?.includes('Asia/Tokyo'));
    expect(tokyo).toMatchObject({ status: 'pending', dueAt: '2026-12-09T00:00:00.000Z' });
    clock.set(Date.parse('2026-12-09T00:00:00Z'));
    expect(await tick()).toMatchObject({ fired: 1 });
    await settled(id);
    expect(reached()).toEqual(['tokyo']);
  });

  test('when a recurring campaign\'s cutoff passes, then its schedule ends there and the campaign completes', async () => {
    const id = await launch({ audience: { users: ['berlin'] }, schedule: { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=10;BYMINUTE=0', timezone: 'Europe/Berlin' }, rules: { cutoff: '2026-12-08T12:00:00+01:00', quietHours: 'off' } });
    clock.set(Date.parse('2026-12-07T09:00:00Z'));
    expect(await tick()).toMatchObject({ recorded: 1, fired: 1 });
    clock.set(Date.parse('2026-12-08T09:00:00Z'));
    expect(await tick()).toMatchObject({ recorded: 1, fired: 1 });
    await settled(id);
    clock.advance(3_600_000);
    await tick();
    expect((await get(`/campaigns/${id}`).expect(200)).body).toMatchObject({ status: 'completed', nextOccurrence: null });
  });

  test('when a campaign is throttled, then its send is split into slices a minute apart, about that many devices each, every device once', async () => {
    const id = await launch({ audience: { users: [...tokens.keys()] }, schedule: { type: 'at', at: '2026-12-07T10:00', timezone: 'Europe/Berlin' }, rules: { throttlePerMinute: 1 } });
    clock.set(Date.parse('2026-12-07T09:00:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 1 });
    const { sends } = await occurrence(id);
    expect(sends.map((s) => [s.dueAt, (s as unknown as { slice: { index: number; of: number } }).slice])).toEqual([0, 1, 2, 3].map((i) => [new Date(Date.parse('2026-12-07T09:00:00Z') + i * 60_000).toISOString(), { index: i, of: 4 }]));
    const perMinute: number[] = [];
    for (let minute = 0; minute < 4; minute++) {
      if (minute > 0) {
        clock.set(Date.parse('2026-12-07T09:00:00Z') + minute * 60_000);
        expect((await tick()).fired).toBe(1);
      }
      await settled(id);
      perMinute.push(ctx.apns.requests.length - perMinute.reduce((a, b) => a + b, 0));
    }
    // Four consecutive device ids in four residue classes: one a minute.
    expect(perMinute).toEqual([1, 1, 1, 1]);
    expect(reached()).toEqual(['berlin', 'newyork', 'nowhere', 'tokyo']);
    expect((await occurrence(id)).counts).toMatchObject({ targeted: 4, sent: 4 });
  });

  test('when a rule has no occurrence for a very long time, then the create is a 400 within about a second and nothing is stored', async () => {
    const before = Number((await ctx.service.context.db('campaigns').count<{ n: number }[]>({ n: '*' }))[0].n);
    const res = await post('/campaigns', { name: 'Never', message, audience: { all: true }, schedule: { type: 'recurring', rrule: 'FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30', timezone: 'UTC' } }).expect(400);
    expect(res.body.error).toMatchObject({ code: 'costly_rrule', message: expect.stringMatching(/take too long to find/) });
    expect(Number((await ctx.service.context.db('campaigns').count<{ n: number }[]>({ n: '*' }))[0].n)).toBe(before);
  });

  test('when a paused campaign gets a new schedule, then what the old one had recorded is cancelled and the new one starts from now', async () => {
    const id = await launch({ audience: { users: ['berlin'] }, schedule: { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=10;BYMINUTE=0', timezone: 'Europe/Berlin' } });
    await post(`/campaigns/${id}/pause`).expect(200);
    // Recorded meanwhile by a process that had read the campaign before the pause.
    const [campaign] = await ctx.service.context.db('campaigns').where({ id }).select('next_at');
    await ctx.service.context.campaigns.transition(id, ['paused'], 'running', clock.now());
    await ctx.service.context.campaigns.advance(id, Number(campaign.next_at), Number(campaign.next_at) + 86_400_000, [Number(campaign.next_at)], clock.now());
    await ctx.service.context.campaigns.transition(id, ['running'], 'paused', clock.now());
    const changed = (await ctx.patch(`/campaigns/${id}`, { schedule: { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=18;BYMINUTE=0', timezone: 'Europe/Berlin' } }).expect(200)).body;
    expect(changed.nextOccurrence).toBe('2026-12-07T17:00:00.000Z');
    const items = (await get(`/campaigns/${id}/occurrences`).expect(200)).body.items as Array<{ status: string; reason: string }>;
    expect(items).toEqual([expect.objectContaining({ status: 'cancelled', reason: 'the schedule was changed' })]);
    await post(`/campaigns/${id}/cancel`).expect(200);
  });

  test('when an occurrence\'s message has an expiration that passed before it fired, then its send fails with the reason and nothing is sent', async () => {
    const id = await launch({ audience: { users: ['berlin'] }, message: { ...message, expiration: Math.floor(START / 1000) + 3600 }, schedule: { type: 'at', at: '2026-12-08T09:00', timezone: 'Europe/Berlin' } });
    clock.set(Date.parse('2026-12-08T08:00:00Z'));
    expect(await tick()).toMatchObject({ planned: 1, fired: 0, ended: 1 });
    expect((await occurrence(id)).sends).toEqual([expect.objectContaining({ status: 'failed', notification: null })]);
    expect(ctx.apns.requests).toHaveLength(0);
  });
});

describe.each(BACKENDS)('QUIET_HOURS for every campaign (%s)', (backend) => {
  test('when QUIET_HOURS and its policy are set, then a campaign without its own rule keeps them, and a test send does not', async () => {
    const clock = manualClock(START);
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount: 2 });
    const database = createTestDatabase(backend);
    const service = await buildService(database, { ...apnsEnv(apns, key), SCHEDULER_INTERVAL_MS: '0', QUIET_HOURS: '21:00-09:00', QUIET_HOURS_POLICY: 'discard' }, { clock });
    try {
      await service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'night-owl', now: START });
      await service.context.audience.put('night-owl', { attributes: {}, timezone: 'Europe/Berlin' }, START);
      const post = (path: string, body?: object) => request(service.app).post(`/api/v1${path}`).set('Authorization', bearer).send(body);
      const { id } = (await post('/campaigns', { name: 'Late', message, audience: { users: ['night-owl'] }, schedule: { type: 'at', at: '2026-12-07T23:00', timezone: 'Europe/Berlin' } }).expect(201)).body;
      await post(`/campaigns/${id}/launch`).expect(200);
      clock.set(Date.parse('2026-12-07T22:00:00Z'));
      expect(await service.context.scheduler.tick()).toMatchObject({ planned: 1, fired: 1 });
      const [occurrence] = (await request(service.app).get(`/api/v1/campaigns/${id}/occurrences`).set('Authorization', bearer).expect(200)).body.items;
      expect(occurrence.counts).toMatchObject({ targeted: 1, skipped: 1, sent: 0 });
      // A test send is outside quiet hours: it goes now, at 23:00 in Berlin.
      const test = (await post(`/campaigns/${id}/test`, { userIds: ['night-owl'] }).expect(202)).body;
      await service.context.queue.settled(test.id);
      expect(apns.requests).toHaveLength(1);
    } finally {
      await service.close();
      await database.drop();
      await apns.close();
    }
  });
});
