import { manualClock } from '../../src/clock';
import { eventMatches } from '../../src/campaigns/schedule';
import { deviceToken } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS } from '../helpers/databases';
import { PUSH_ID } from '../helpers/service';

const MINUTE = 60_000;
const START = Date.parse('2026-12-07T12:00:00Z');

describe.each(BACKENDS)('triggered campaigns (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock);
  const { post, get, tick } = ctx;
  const tokens = new Map<string, string>();
  const track = (events: object[]) => post('/events', { events }).expect(202);
  const titles = () => ctx.apns.requests.map((r) => [[...tokens].find(([, t]) => t === r.token)?.[0], (r.payload as { aps: { alert: { title: string } } }).aps.alert.title]);
  const entries = async (id: string) => (await get(`/campaigns/${id}/occurrences`).expect(200)).body.items as Array<{ userId: string; status: string; reason: string | null; dueAt: string; event: { name: string; properties: Record<string, unknown> }; notification: { id: string } | null }>;
  const settle = async (id: string) => {
    for (const entry of await entries(id)) if (entry.notification) await ctx.service.context.queue.settled(entry.notification.id);
  };
  /** Moves the clock and runs a round (past the few seconds triggers wait for events on PostgreSQL). */
  const at = async (ms: number) => {
    clock.set(ms);
    return tick();
  };

  beforeAll(async () => {
    for (const user of ['ann', 'bob', 'cy']) {
      const token = deviceToken();
      tokens.set(user, token);
      await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: user, now: START });
    }
  });

  test('when someone adds to the cart and does not buy within 10 minutes, then 10 minutes later they get the reminder with the product in it; who bought gets nothing', async () => {
    ctx.apns.reset();
    await track([{ name: 'added_to_cart', userId: 'cy', time: START - MINUTE, properties: { productName: 'Before launch', price: 99 } }]);
    const id = (
      await post('/campaigns', {
        name: 'Abandoned cart',
        message: { title: 'Still thinking about {{ event.productName }}?', body: 'It is {{ event.price }} EUR', urlArgs: ['cart', '{{ event.productName | downcase }}'] },
        audience: { all: true },
        schedule: { type: 'event', event: 'added_to_cart', where: [{ property: 'price', op: 'gte', value: 10 }], delay: '10m', unless: { event: 'purchased', within: '10m' }, reentry: '24h' },
      }).expect(201)
    ).body.id as string;
    expect((await post(`/campaigns/${id}/launch`).expect(200)).body).toMatchObject({ status: 'running', nextOccurrence: null });
    await track([
      { name: 'added_to_cart', userId: 'ann', time: START, properties: { productName: 'Lamp', price: 30 } },
      { name: 'added_to_cart', userId: 'bob', time: START, properties: { productName: 'Mug', price: 12 } },
      { name: 'added_to_cart', userId: 'cy', time: START, properties: { productName: 'Sticker', price: 2 } },
      { name: 'page_view', userId: 'cy', time: START },
    ]);
    clock.set(START + 5 * MINUTE);
    await track([{ name: 'purchased', userId: 'bob', time: START + 5 * MINUTE }]);
    expect(await at(START + 6 * MINUTE)).toMatchObject({ recorded: 2, fired: 0 });
    // Only the two carts of 10 EUR or more, after the launch; each due 10 minutes after its event.
    const recorded = await entries(id);
    expect(recorded.map((e) => [e.userId, e.status, e.dueAt]).sort()).toEqual([
      ['ann', 'pending', '2026-12-07T12:10:00.000Z'],
      ['bob', 'pending', '2026-12-07T12:10:00.000Z'],
    ]);
    expect(await at(START + 10 * MINUTE)).toMatchObject({ fired: 1, ended: 1 });
    await settle(id);
    expect(titles()).toEqual([['ann', 'Still thinking about Lamp?']]);
    expect((ctx.apns.requests[0].payload as { aps: { alert: { body: string } } }).aps.alert.body).toBe('It is 30 EUR');
    const bob = (await entries(id)).find((e) => e.userId === 'bob');
    expect(bob).toMatchObject({ status: 'missed', reason: 'unless: purchased came within 10m', notification: null });

    // Re-entry after 24 hours only: a second cart an hour later is not a second reminder.
    ctx.apns.reset();
    clock.set(START + 60 * MINUTE);
    await track([{ name: 'added_to_cart', userId: 'ann', time: START + 60 * MINUTE, properties: { productName: 'Chair', price: 80 } }]);
    expect(await at(START + 80 * MINUTE)).toMatchObject({ recorded: 0, fired: 0 });
    clock.set(START + 25 * 60 * MINUTE);
    await track([{ name: 'added_to_cart', userId: 'ann', time: START + 25 * 60 * MINUTE, properties: { productName: 'Desk', price: 120 } }]);
    await at(START + 25 * 60 * MINUTE + 10_000);
    await at(START + 25 * 60 * MINUTE + 10 * MINUTE);
    await settle(id);
    expect(titles()).toEqual([['ann', 'Still thinking about Desk?']]);
    // Still running: a triggered campaign ends only when cancelled.
    expect((await get(`/campaigns/${id}`).expect(200)).body.status).toBe('running');
    await post(`/campaigns/${id}/cancel`).expect(200);
  });

  test('when re-entry is "once", then a user is reminded once ever; a paused campaign collects nothing and sends nothing until resumed', async () => {
    ctx.apns.reset();
    const base = START + 3 * 24 * 60 * MINUTE;
    clock.set(base);
    const id = (await post('/campaigns', { name: 'Welcome', message: { title: 'Welcome {{ event.plan }}', body: 'Glad you are here', urlArgs: ['a', 'b'] }, audience: { all: true }, schedule: { type: 'event', event: 'signed_up' } }).expect(201)).body.id as string;
    await post(`/campaigns/${id}/launch`).expect(200);
    await track([{ name: 'signed_up', userId: 'cy', time: base, properties: { plan: 'pro' } }]);
    await post(`/campaigns/${id}/pause`).expect(200);
    expect(await at(base + MINUTE)).toMatchObject({ recorded: 0, fired: 0 });
    await post(`/campaigns/${id}/resume`).expect(200);
    expect(await at(base + 2 * MINUTE)).toMatchObject({ recorded: 1, fired: 1 });
    clock.set(base + 3 * MINUTE);
    await track([{ name: 'signed_up', userId: 'cy', time: base + 3 * MINUTE, properties: { plan: 'again' } }]);
    expect(await at(base + 4 * MINUTE)).toMatchObject({ recorded: 0, fired: 0 });
    await settle(id);
    expect(titles()).toEqual([['cy', 'Welcome pro']]);
  });

  test('when the cart and the purchase come in one call with the same time, then the purchase still counts for "unless"', async () => {
    ctx.apns.reset();
    const base = START + 6 * 24 * 60 * MINUTE;
    clock.set(base);
    const id = (await post('/campaigns', { name: 'Same call', message: { title: 't', body: 'b', urlArgs: ['a', 'b'] }, audience: { all: true }, schedule: { type: 'event', event: 'cart_2', delay: '1m', unless: { event: 'bought_2', within: '1m' } } }).expect(201)).body.id as string;
    await post(`/campaigns/${id}/launch`).expect(200);
    await track([
      { name: 'cart_2', userId: 'ann' },
      { name: 'bought_2', userId: 'ann' },
    ]);
    expect(await at(base + 10_000)).toMatchObject({ recorded: 1 });
    expect(await at(base + 2 * MINUTE)).toMatchObject({ fired: 0, ended: 1 });
    expect((await entries(id))[0]).toMatchObject({ status: 'missed', reason: expect.stringMatching(/^unless/) });
    expect(ctx.apns.requests).toHaveLength(0);
  });

  test.each([
    ['an unless event with a NUL', { unless: { event: 'bou\u0000ght', within: '1m' } }, /unless\.event must be well-formed/],
    ['a where value with a lone surrogate', { where: [{ property: 'p', op: 'eq', value: '\ud800' }] }, /where\[\]\.value must be well-formed/],
    ['a delay without a unit', { delay: '10' }, /delay must be a number and a unit/],
    ['a where with an unknown op', { where: [{ property: 'price', op: 'between', value: 1 }] }, /where\[\]\.op/],
    ['a where without a value', { where: [{ property: 'price', op: 'gt' }] }, /value is needed/],
    ['a re-entry that is not a duration', { reentry: 'twice' }, /reentry/],
    ['an unless window of a year', { unless: { event: 'purchased', within: '365d' } }, /at most 30 days/],
  ])('when a trigger has %s, then it is a 400', async (_what, change, problem) => {
    const res = await post('/campaigns', { name: 'Bad', message: { title: 't', body: 'b', urlArgs: ['a', 'b'] }, audience: { all: true }, schedule: { type: 'event', event: 'x', ...change } }).expect(400);
    expect(res.body.error.message).toMatch(problem);
  });
});

describe('event conditions', () => {
  test('when a condition names a property the event does not have itself, then it does not hold (not even "constructor")', () => {
    expect(eventMatches([{ property: 'constructor', op: 'exists' }], { price: 3 })).toBe(false);
    expect(eventMatches([{ property: 'price', op: 'exists' }], { price: 3 })).toBe(true);
    expect(eventMatches([{ property: 'price', op: 'gt', value: 2 }], { price: 3 })).toBe(true);
    expect(eventMatches([{ property: 'price', op: 'gt', value: '2' }], { price: 3 })).toBe(false);
    expect(eventMatches([{ property: 'plan', op: 'ne', value: 'pro' }], null)).toBe(true);
  });
});
