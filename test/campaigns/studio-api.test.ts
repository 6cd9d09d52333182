import { manualClock } from '../../src/clock';
import { deviceToken } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS } from '../helpers/databases';
import { PUSH_ID } from '../helpers/service';

const START = Date.parse('2026-12-07T08:00:00Z');

/** The API calls the campaign studio makes besides the campaign API: what the data holds, a schedule's next times, a message's problems. */
describe.each(BACKENDS)('the studio\'s API calls (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock);
  const { post, get } = ctx;

  beforeAll(async () => {
    await ctx.service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'ada', now: START });
    await ctx.service.context.audience.put('ada', { attributes: { plan: 'pro', age: 36, vip: true, tags: ['a'], signup: '2026-01-02T00:00:00.000Z' } }, START);
    await ctx.service.context.audience.put('ben', { attributes: { plan: 'free', age: 'unknown' } }, START);
    await post('/events', { events: ['viewed', 'purchased', 'added_to_cart', 'viewed'].map((name) => ({ name, userId: 'ada', time: START - 1000 })) }).expect(202);
  });

  test('when the studio asks what the data holds, then it gets attribute names with their types, the device facts and each event name once, in order', async () => {
    const fields = (await get('/audience/fields').expect(200)).body;
    expect(fields.attributes).toEqual([
      { name: 'age', type: 'mixed' },
      { name: 'plan', type: 'string' },
      { name: 'signup', type: 'date' },
      { name: 'tags', type: 'list' },
      { name: 'vip', type: 'boolean' },
    ]);
    expect(fields.events).toEqual(['added_to_cart', 'purchased', 'viewed']);
    expect(fields.deviceFacts).toContain('browser');
  });

  test('when a schedule is previewed, then its next occurrences come as ISO times from the service\'s clock, and a bad or costly one is a 400', async () => {
    const weekly = (await post('/schedules/preview', { schedule: { type: 'recurring', rrule: 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0', timezone: 'Europe/Berlin' }, count: 3 }).expect(200)).body;
    expect(weekly).toEqual({ occurrences: ['2026-12-07T08:00:00.000Z', '2026-12-14T08:00:00.000Z', '2026-12-21T08:00:00.000Z'], timezone: 'Europe/Berlin', localTime: false, triggered: false });
    expect((await post('/schedules/preview', { schedule: { type: 'event', event: 'added_to_cart' } }).expect(200)).body).toMatchObject({ occurrences: [], triggered: true });
    expect((await post('/schedules/preview', { schedule: { type: 'at', at: '2020-01-01T09:00', timezone: 'UTC' } }).expect(200)).body.occurrences).toEqual([]);
    await post('/schedules/preview', { schedule: { type: 'recurring', rrule: 'FREQ=DAILY;INTERVAL=-1', timezone: 'UTC' } }).expect(400);
    await post('/schedules/preview', { schedule: { type: 'at' }, count: 11 }).expect(400);
  });

  test('when a message is previewed, then its problems are what the send API would refuse it for', async () => {
    const bad = (await post('/notifications/preview', { title: 'Hi', body: 'there', urlArgs: ['one'], userId: 'ada' }).expect(200)).body;
    expect(bad.problems).toEqual([expect.stringContaining('urlArgs has 1 entries')]);
    const good = (await post('/notifications/preview', { title: 'Hi', body: 'there', urlArgs: ['a', 'b'], userId: 'ada' }).expect(200)).body;
    expect(good.problems).toEqual([]);
  });
});
