import { manualClock } from '../../src/clock';
import { deviceToken } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS } from '../helpers/databases';
import { PUSH_ID } from '../helpers/service';

const START = Date.parse('2026-12-07T12:00:00Z');
const message = { title: 'Deal', body: 'Today only', urlArgs: ['deal', 'today'] };

describe.each(BACKENDS)('frequency caps (%s)', (backend) => {
  const clock = manualClock(START);
  // Pages of 10: the capped user's two devices fall on different pages of a broadcast.
  const ctx = useCampaignService(backend, clock, { FREQUENCY_CAPS: '2/1d', SEND_PAGE_SIZE: '10' });
  const { post, get, tick } = ctx;
  const tokens = { first: deviceToken(), second: deviceToken(), anonymous: deviceToken() };
  const send = async (body: object) => {
    const res = await post('/notifications?wait=true', { ...message, ...body }).expect(200);
    return res.body as { id: string; counts: Record<string, number> };
  };
  const outcomesOf = async (id: string) =>
    Object.fromEntries(((await get(`/notifications/${id}/deliveries?limit=100`).expect(200)).body.items as Array<{ token: string; outcome: string; reason: string | null }>).map((d) => [d.token, [d.outcome, d.reason]]));

  beforeAll(async () => {
    const { devices } = ctx.service.context;
    await devices.register({ token: tokens.first, websitePushId: PUSH_ID, userId: 'capped', now: START });
    for (let i = 0; i < 12; i++) await devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: `other-${i}`, now: START });
    await devices.register({ token: tokens.second, websitePushId: PUSH_ID, userId: 'capped', now: START });
    await devices.register({ token: tokens.anonymous, websitePushId: PUSH_ID, userId: null, now: START });
  });

  test('when API sends opt in, then a user gets at most two a day on all their devices, the third is skipped with reason frequency_cap, and sends that do not opt in still go', async () => {
    const users = { users: ['capped'] };
    const one = await send({ to: { all: true }, respectCaps: true });
    expect(one.counts).toMatchObject({ targeted: 15, sent: 15, skipped: 0 });
    // Both of the user's devices got it, though on different pages: one count per notification.
    expect((await outcomesOf(one.id))[tokens.second]).toEqual(['sent', null]);
    expect((await send({ to: users, respectCaps: true })).counts).toMatchObject({ sent: 2, skipped: 0 });
    const third = await send({ to: { all: true }, respectCaps: true });
    // The capped user's two devices are skipped; everyone else has had one and gets their second.
    expect(third.counts).toMatchObject({ targeted: 15, sent: 13, skipped: 2, pending: 0 });
    const outcomes = await outcomesOf(third.id);
    expect(outcomes[tokens.first]).toEqual(['skipped', 'frequency_cap']);
    expect(outcomes[tokens.second]).toEqual(['skipped', 'frequency_cap']);
    expect(outcomes[tokens.anonymous]).toEqual(['sent', null]);
    expect((await send({ to: users })).counts).toMatchObject({ sent: 2, skipped: 0 });
    // The anonymous device is counted by itself: it has had two now.
    expect((await send({ to: { tokens: [tokens.anonymous] }, respectCaps: true })).counts).toMatchObject({ skipped: 1 });
  });

  test('when a campaign fires, then it keeps the caps by default and goes through with "ignore"', async () => {
    const respecting = (await post('/campaigns', { name: 'Respecting', message, audience: { users: ['capped'] }, schedule: { type: 'now' } }).expect(201)).body.id;
    const ignoring = (await post('/campaigns', { name: 'Ignoring', message, audience: { users: ['capped'] }, schedule: { type: 'now' }, rules: { frequencyCaps: 'ignore' } }).expect(201)).body.id;
    await post(`/campaigns/${respecting}/launch`).expect(200);
    await post(`/campaigns/${ignoring}/launch`).expect(200);
    expect((await tick()).fired).toBe(2);
    const countsOf = async (id: string) => {
      const [occurrence] = (await get(`/campaigns/${id}/occurrences`).expect(200)).body.items;
      await ctx.service.context.queue.settled(occurrence.notification.id);
      return (await get(`/notifications/${occurrence.notification.id}`).expect(200)).body.counts;
    };
    expect(await countsOf(respecting)).toMatchObject({ sent: 0, skipped: 2 });
    expect(await countsOf(ignoring)).toMatchObject({ sent: 2, skipped: 0 });
  });

  test('when respectCaps is not a boolean, then the send is a 400', async () => {
    expect((await post('/notifications', { ...message, to: { all: true }, respectCaps: 'yes' }).expect(400)).body.error.message).toMatch(/respectCaps/);
  });
});

describe.each(BACKENDS)('frequency caps over time (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock, { FREQUENCY_CAPS: '1/12h,2/7d' });
  const { post } = ctx;
  const send = async () => (await post('/notifications?wait=true', { ...message, to: { users: ['weekly'] }, respectCaps: true }).expect(200)).body.counts as Record<string, number>;

  test('when windows roll on, then a user gets one per 12 hours and two per 7 days, counted on the service\'s clock', async () => {
    await ctx.service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'weekly', now: START });
    expect(await send()).toMatchObject({ sent: 1 });
    clock.advance(11 * 3_600_000);
    expect(await send()).toMatchObject({ skipped: 1 });
    clock.advance(2 * 3_600_000); // 13 hours after the first
    expect(await send()).toMatchObject({ sent: 1 });
    clock.advance(24 * 3_600_000);
    expect(await send()).toMatchObject({ skipped: 1 }); // two within 7 days already
    clock.advance(6 * 24 * 3_600_000); // the first is more than 7 days ago
    expect(await send()).toMatchObject({ sent: 1 });
  });
});
