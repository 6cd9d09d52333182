import { durationMs, nextOccurrence, scheduleSchema, wallToInstant, type Schedule } from '../../src/campaigns/schedule';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const LAUNCH = Date.parse('2026-03-01T00:00:00Z');
/** The first `n` occurrences after `from`. */
function occurrences(schedule: Schedule, from: string, n: number): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  let after = Date.parse(from);
  for (let i = 0; i < n; i++) {
    const next = nextOccurrence(schedule, after, LAUNCH);
    out.push(iso(next));
    if (next === undefined) break;
    after = next;
  }
  return out;
}

describe('campaign schedules', () => {
  test('when a wall-clock time is placed in a zone, then ordinary days, a skipped 02:30 and a repeated 01:30 each give one instant', () => {
    expect(iso(wallToInstant('2026-12-24T09:00', 'Europe/Berlin'))).toBe('2026-12-24T08:00:00.000Z');
    expect(iso(wallToInstant('2026-07-01T09:00:30', 'America/New_York'))).toBe('2026-07-01T13:00:30.000Z');
    // Clocks jump from 02:00 to 03:00: 02:30 does not exist and is moved forward by the jump.
    expect(iso(wallToInstant('2026-03-29T02:30', 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(wallToInstant('2026-03-08T02:30', 'America/New_York'))).toBe('2026-03-08T07:30:00.000Z');
    // Clocks fall back from 03:00 to 02:00: 02:30 happens twice; the first one counts.
    expect(iso(wallToInstant('2026-10-25T02:30', 'Europe/Berlin'))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(wallToInstant('2026-11-01T01:30', 'America/New_York'))).toBe('2026-11-01T05:30:00.000Z');
    // A zone without daylight saving, and one at +13.
    expect(iso(wallToInstant('2026-03-29T02:30', 'Asia/Tokyo'))).toBe('2026-03-28T17:30:00.000Z');
    expect(iso(wallToInstant('2026-01-01T00:00', 'Pacific/Tongatapu'))).toBe('2025-12-31T11:00:00.000Z');
  });

  test('when a weekly rule runs across the spring change, then 09:00 stays 09:00 on the wall clock', () => {
    const weekly: Schedule = { type: 'recurring', rrule: 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0', timezone: 'Europe/Berlin' };
    expect(occurrences(weekly, '2026-03-20T00:00:00Z', 3)).toEqual(['2026-03-23T08:00:00.000Z', '2026-03-30T07:00:00.000Z', '2026-04-06T07:00:00.000Z']);
  });

  test('when a daily 02:30 rule meets both changes, then it fires once each day: moved forward in spring, the first one in autumn', () => {
    const daily: Schedule = { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0', timezone: 'Europe/Berlin' };
    expect(occurrences(daily, '2026-03-27T12:00:00Z', 3)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z']);
    expect(occurrences(daily, '2026-10-23T12:00:00Z', 3)).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  test('when an hourly rule crosses the autumn change, then every hour of the day is sent once and none twice', () => {
    const hourly: Schedule = { type: 'recurring', rrule: 'FREQ=HOURLY', timezone: 'Europe/Berlin', start: '2026-10-25T00:00' };
    const seen = occurrences(hourly, '2026-10-24T21:00:00Z', 6);
    expect(new Set(seen).size).toBe(6);
    expect(seen[0]).toBe('2026-10-24T22:00:00.000Z');
  });

  test('when a rule has an end, a count, or dates lie in the past, then occurrences stop there', () => {
    const ending: Schedule = { type: 'recurring', rrule: 'FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0', timezone: 'UTC', start: '2026-03-01T00:00', end: '2026-03-03T12:00' };
    expect(occurrences(ending, '2026-03-01T00:00:00Z', 5)).toEqual(['2026-03-01T09:00:00.000Z', '2026-03-02T09:00:00.000Z', '2026-03-03T09:00:00.000Z', undefined]);
    const counted: Schedule = { type: 'recurring', rrule: 'FREQ=DAILY;COUNT=2;BYHOUR=9;BYMINUTE=0;BYSECOND=0', timezone: 'UTC', start: '2026-03-01T00:00' };
    expect(occurrences(counted, '2026-02-01T00:00:00Z', 3)).toEqual(['2026-03-01T09:00:00.000Z', '2026-03-02T09:00:00.000Z', undefined]);
    const dates: Schedule = { type: 'dates', dates: ['2026-12-24T18:00', '2026-12-01T09:00', '2026-12-31T23:59:59'], timezone: 'Europe/Berlin' };
    expect(occurrences(dates, '2026-12-10T00:00:00Z', 3)).toEqual(['2026-12-24T17:00:00.000Z', '2026-12-31T22:59:59.000Z', undefined]);
    expect(nextOccurrence({ type: 'now' }, LAUNCH - 1, LAUNCH)).toBe(LAUNCH);
    expect(nextOccurrence({ type: 'now' }, LAUNCH, LAUNCH)).toBeUndefined();
  });

  test.each([
    [{ type: 'at', at: '2026-02-30T09:00', timezone: 'Europe/Berlin' }, /wall-clock time/],
    [{ type: 'at', at: '2026-12-24 09:00', timezone: 'Europe/Berlin' }, /wall-clock time/],
    [{ type: 'at', at: '2026-12-24T09:00', timezone: 'Mars/Olympus' }, /IANA time zone/],
    [{ type: 'recurring', rrule: 'FREQ=MINUTELY', timezone: 'UTC' }, /at most hourly/],
    [{ type: 'recurring', rrule: 'DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY', timezone: 'UTC' }, /only the RRULE parts/],
    [{ type: 'recurring', rrule: 'BYDAY=MO', timezone: 'UTC' }, /rrule/],
    [{ type: 'dates', dates: [], timezone: 'UTC' }, /must not be empty/],
    [{ type: 'weekly' }, /schedule.type/],
  ])('when the schedule is %j, then it is refused with a reason', (schedule, reason) => {
    const parsed = scheduleSchema.safeParse(schedule);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message).join('; ')).toMatch(reason);
  });

  test('when durations are written with a unit, then they are read as milliseconds', () => {
    expect([durationMs('30s'), durationMs('10m'), durationMs('12h'), durationMs('7d')]).toEqual([30_000, 600_000, 43_200_000, 604_800_000]);
  });
});
