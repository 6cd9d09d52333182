import { RRule } from 'rrule';
import { durationMs, nextOccurrence, placeInZone, scheduleSchema, wallToInstant, type Schedule } from '../../src/campaigns/schedule';

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

describe('recurrence rules that would cost too much', () => {
  const recurring = (rrule: string, extra: Partial<Schedule> = {}) => scheduleSchema.safeParse({ type: 'recurring', rrule, timezone: 'Europe/Berlin', ...extra });

  test.each([
    ['a negative interval', 'FREQ=DAILY;INTERVAL=-1', /INTERVAL must be 1 to 1000/],
    ['an interval that is not a number', 'FREQ=DAILY;INTERVAL=abc', /INTERVAL takes whole numbers/],
    ['an interval of zero', 'FREQ=DAILY;INTERVAL=0', /INTERVAL must be 1 to 1000/],
    ['a fractional interval', 'FREQ=DAILY;INTERVAL=1.5', /INTERVAL takes whole numbers/],
    ['month 0', 'FREQ=DAILY;BYMONTH=0', /BYMONTH must be 1 to 12/],
    ['month -1', 'FREQ=DAILY;BYMONTH=-1', /BYMONTH must be 1 to 12/],
    ['hour 1,000,000', 'FREQ=DAILY;BYHOUR=1000000', /BYHOUR takes whole numbers|BYHOUR must be 0 to 23/],
    ['minute 61', 'FREQ=DAILY;BYMINUTE=61', /BYMINUTE must be 0 to 59/],
    ['day of month 40', 'FREQ=MONTHLY;BYMONTHDAY=40', /BYMONTHDAY must be 1 to 31/],
    ['day of month 0', 'FREQ=MONTHLY;BYMONTHDAY=0', /BYMONTHDAY must be/],
    ['the sixtieth Monday', 'FREQ=YEARLY;BYDAY=+60MO', /BYDAY's ordinal/],
    ['a count of -1', 'FREQ=DAILY;COUNT=-1', /COUNT must be 1 to 10000/],
    ['a part named twice', 'FREQ=DAILY;FREQ=WEEKLY', /twice/],
    ['an unknown part', 'FREQ=DAILY;BYEASTER=1', /does not take BYEASTER/],
    ['a part without a value', 'FREQ=DAILY;BYHOUR=', /NAME=VALUE/],
  ])('when a rule has %s, then it is refused before rrule expands it', (_what, rrule, problem) => {
    const parsed = recurring(rrule);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message).join('; ')).toMatch(problem);
  });

  test('when a start lies before the year 2000 (or a year has two digits), then it is refused', () => {
    expect(recurring('FREQ=HOURLY', { start: '1000-01-01T00:00' }).success).toBe(false);
    expect(recurring('FREQ=HOURLY', { start: '0050-01-01T09:00' }).success).toBe(false);
    expect(recurring('FREQ=HOURLY', { start: '2026-01-01T00:00' }).success).toBe(true);
  });

  test.each([
    'FREQ=HOURLY',
    'FREQ=HOURLY;INTERVAL=7',
    'FREQ=DAILY;BYHOUR=2,14;BYMINUTE=30',
    'FREQ=DAILY;INTERVAL=3;BYHOUR=9',
    'FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=0',
    'FREQ=WEEKLY;INTERVAL=2;BYDAY=SU;BYHOUR=18;WKST=SU',
    'FREQ=WEEKLY;INTERVAL=3;BYDAY=FR;BYSETPOS=-1',
    'FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17',
  ])('when %s has run for a year, then the next occurrences are the ones a replay from its start gives', (rrule) => {
    // nextOccurrence starts rrule near the time asked about (whole periods on); a plain replay of
    // the rule from its start must agree, across both daylight-saving changes.
    const schedule = { type: 'recurring' as const, rrule, timezone: 'Europe/Berlin', start: '2025-01-06T08:15' };
    const from = Date.parse('2026-03-27T00:00:00Z');
    // The plain replay: rrule from the rule's real start, in floating time, placed in the zone.
    const rule = new RRule({ ...RRule.parseString(rrule), dtstart: new Date(Date.UTC(2025, 0, 6, 8, 15)) });
    const replay = rule
      .between(new Date(from - 2 * 86_400_000), new Date(from + 1200 * 86_400_000))
      .map((d) => placeInZone(d.getTime(), 'Europe/Berlin'))
      .filter((t) => t > from)
      .slice(0, 40)
      .map((t) => iso(t) as string);
    expect(replay).toHaveLength(40);
    const direct: string[] = [];
    let after = from;
    while (direct.length < 40) {
      const next = nextOccurrence(schedule, after, LAUNCH) as number;
      direct.push(iso(next) as string);
      after = next;
    }
    expect(direct).toEqual(replay);
  });
});
