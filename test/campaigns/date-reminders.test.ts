import { manualClock } from '../../src/clock';
import { reminderDay } from '../../src/campaigns/schedule';
import { deviceToken } from '../helpers/apns';
import { useCampaignService } from '../helpers/campaigns';
import { BACKENDS } from '../helpers/databases';
import { PUSH_ID } from '../helpers/service';

const START = Date.parse('2026-12-07T07:00:00Z');

describe('the day a date reminder is about', () => {
  test('when it is 09:00 on the 9th and the offset is -1d, then it is about the 10th, that day in the user\'s zone', () => {
    expect(reminderDay(Date.parse('2026-12-09T08:00:00Z'), 'Europe/Berlin', '-1d')).toEqual({ day: '2026-12-10', from: '2026-12-09T23:00:00.000Z', to: '2026-12-10T23:00:00.000Z' });
    expect(reminderDay(Date.parse('2026-12-09T14:00:00Z'), 'America/New_York', '-1d')).toEqual({ day: '2026-12-10', from: '2026-12-10T05:00:00.000Z', to: '2026-12-11T05:00:00.000Z' });
    expect(reminderDay(Date.parse('2026-12-09T14:00:00Z'), 'UTC', '+2d')).toEqual({ day: '2026-12-07', from: '2026-12-07T00:00:00.000Z', to: '2026-12-08T00:00:00.000Z' });
  });
});

describe.each(BACKENDS)('date-attribute reminders (%s)', (backend) => {
  const clock = manualClock(START);
  const ctx = useCampaignService(backend, clock);
  const { post, get, tick } = ctx;
  const tokens = new Map<string, string>();
  const reached = () => ctx.apns.requests.map((r) => [...tokens].find(([, t]) => t === r.token)?.[0]).sort();
  const settleAll = async (id: string) => {
    for (const occurrence of (await get(`/campaigns/${id}/occurrences?limit=50`).expect(200)).body.items as Array<{ sends: Array<{ notification: { id: string } | null }> }>) {
      for (const send of occurrence.sends) if (send.notification) await ctx.service.context.queue.settled(send.notification.id);
    }
  };

  beforeAll(async () => {
    const people: Array<[string, string, string]> = [
      ['flyer-berlin', 'Europe/Berlin', '2026-12-10'],
      // A date-time: 09:00 in New York on the 10th.
      ['flyer-ny', 'America/New_York', '2026-12-10T09:00:00-05:00'],
      // 23:30 in Berlin on the 10th is the 11th in UTC: the day counts in the user's zone.
      ['late-flyer', 'Europe/Berlin', '2026-12-10T22:30:00Z'],
      ['later', 'Europe/Berlin', '2026-12-20'],
    ];
    for (const [user, timezone, flightDate] of people) {
      const token = deviceToken();
      tokens.set(user, token);
      await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: user, now: START });
      await ctx.service.context.audience.put(user, { attributes: { flightDate }, timezone }, START);
    }
  });

  test('when a flight is tomorrow, then its traveller gets the reminder at 09:00 on their own clock the day before, and nobody else does', async () => {
    const id = (
      await post('/campaigns', {
        name: 'Flight reminder',
        message: { title: 'Your flight is tomorrow', body: 'Check in now', urlArgs: ['flights', 'check-in'] },
        audience: { all: true },
        schedule: { type: 'date-attribute', attribute: 'flightDate', offset: '-1d', at: '09:00', localTime: true, timezone: 'Europe/Berlin' },
      }).expect(201)
    ).body.id as string;
    expect((await post(`/campaigns/${id}/launch`).expect(200)).body.status).toBe('scheduled');
    // 09:00 in Berlin on the 9th: the Berlin travellers of the 10th.
    clock.set(Date.parse('2026-12-09T08:00:00Z'));
    await tick();
    await settleAll(id);
    expect(reached()).toEqual(['flyer-berlin', 'late-flyer']);
    ctx.apns.reset();
    // 09:00 in New York on the 9th.
    clock.set(Date.parse('2026-12-09T14:00:00Z'));
    await tick();
    await settleAll(id);
    expect(reached()).toEqual(['flyer-ny']);
    ctx.apns.reset();
    // The next days: nobody flies on the 11th or 12th.
    for (const time of ['2026-12-10T08:00:00Z', '2026-12-10T14:00:00Z', '2026-12-11T08:00:00Z']) {
      clock.set(Date.parse(time));
      await tick();
    }
    await settleAll(id);
    expect(reached()).toEqual([]);
    await post(`/campaigns/${id}/cancel`).expect(200);
  });

  test.each([
    ['an offset in hours', { offset: '-12h' }, /offset is a number of days/],
    ['an attribute name with a dot', { attribute: 'flight.date' }, /attribute is a profile attribute name/],
    ['a time of day without minutes', { at: '9' }, /at is a time of day/],
  ])('when a date reminder has %s, then it is a 400', async (_what, change, problem) => {
    const res = await post('/campaigns', { name: 'Bad', message: { title: 't', body: 'b', urlArgs: ['a', 'b'] }, audience: { all: true }, schedule: { type: 'date-attribute', attribute: 'flightDate', at: '09:00', ...change } }).expect(400);
    expect(res.body.error.message).toMatch(problem);
  });
});
