import { DateTime, IANAZone } from 'luxon';
import { Frequency, RRule } from 'rrule';
import { z } from 'zod';
import { timezoneSchema } from '../audience/values';

/**
 * When a campaign's occurrences are due. Wall-clock times (`YYYY-MM-DDTHH:MM[:SS]`) are read in the
 * schedule's IANA time zone with luxon; recurrence rules (RFC 5545) are expanded by the `rrule`
 * library in "floating" wall-clock time, and each wall-clock time is then placed in the zone. On a
 * daylight-saving day a time that does not exist (02:30 when clocks jump from 02:00 to 03:00) is
 * moved forward by the jump (03:30), and a time that happens twice (01:30 when clocks fall back)
 * is the first of the two.
 */

const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
export const MAX_DATES = 100;
const MIN_YEAR = 2000;
const MAX_YEAR = 2200;

/** A wall-clock time as the API takes it, checked to be a real calendar time. */
export const wallTime = (field: string) =>
  z
    .string()
    .refine((value) => WALL_TIME.test(value) && DateTime.fromISO(value, { zone: 'UTC' }).isValid, `${field} must be a wall-clock time YYYY-MM-DDTHH:MM[:SS], such as "2026-12-24T09:00"`)
    .refine((value) => !WALL_TIME.test(value) || (Number(value.slice(0, 4)) >= MIN_YEAR && Number(value.slice(0, 4)) <= MAX_YEAR), `${field} must fall in the years ${MIN_YEAR} to ${MAX_YEAR}`);

/** Wall-clock fields in UTC milliseconds ("floating" time: the clock's reading, not an instant). */
function floating(wall: string): number {
  const [, y, mo, d, h, mi, s] = WALL_TIME.exec(wall) as RegExpExecArray;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
}

/** The instant a floating wall-clock time happens in `zone` (see the DST rules above). */
export function placeInZone(floatingMs: number, zone: string): number {
  const iana = IANAZone.create(zone);
  const DAY = 86_400_000;
  // The zone's offsets around that day: the instant is the wall time minus one of them.
  const offsets = [...new Set([iana.offset(floatingMs - DAY), iana.offset(floatingMs + DAY), iana.offset(floatingMs)])];
  const valid = offsets.map((minutes) => floatingMs - minutes * 60_000).filter((instant) => floatingMs - iana.offset(instant) * 60_000 === instant);
  // Twice (clocks fall back): the first. Never (clocks jump): moved forward by the jump.
  if (valid.length > 0) return Math.min(...valid);
  const before = iana.offset(floatingMs - DAY);
  return floatingMs - before * 60_000;
}

/** Where the zone's clock reads at `instant`, as floating milliseconds. */
export function floatingAt(instant: number, zone: string): number {
  return instant + IANAZone.create(zone).offset(instant) * 60_000;
}

export const wallToInstant = (wall: string, zone: string) => placeInZone(floating(wall), zone);

/**
 * The parts a rule may have, each with the range RFC 5545 gives its numbers (INTERVAL and COUNT
 * bounded here). rrule accepts out-of-range numbers (INTERVAL=-1, BYMONTH=0) and then searches
 * until the year 9999, so every number is checked before rrule sees the rule.
 */
const PART_RANGES: Record<string, [number, number, boolean?]> = {
  INTERVAL: [1, 1000],
  COUNT: [1, 10_000],
  BYSECOND: [0, 59],
  BYMINUTE: [0, 59],
  BYHOUR: [0, 23],
  BYMONTH: [1, 12],
  // Signed: -1 is the last.
  BYMONTHDAY: [1, 31, true],
  BYYEARDAY: [1, 366, true],
  BYWEEKNO: [1, 53, true],
  BYSETPOS: [1, 366, true],
};
const WEEKDAY = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/;

function partProblem(name: string, value: string): string | undefined {
  if (name === 'FREQ' || name === 'WKST' || name === 'UNTIL') return undefined;
  if (name === 'BYDAY') {
    for (const day of value.split(',')) {
      const match = WEEKDAY.exec(day);
      if (!match) return `BYDAY takes weekdays such as MO or -1FR, not ${JSON.stringify(day.slice(0, 20))}`;
      const nth = match[1] === undefined ? undefined : Number(match[1]);
      if (nth !== undefined && (nth === 0 || Math.abs(nth) > 53)) return `BYDAY's ordinal must be 1 to 53 or -1 to -53, not ${match[1]}`;
    }
    return undefined;
  }
  const range = PART_RANGES[name];
  if (!range) return `rrule does not take ${name.slice(0, 20)} here (FREQ, INTERVAL, COUNT, UNTIL, WKST, BYSECOND, BYMINUTE, BYHOUR, BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS)`;
  const [min, max, signed] = range;
  const values = value.split(',');
  if (values.length > 366) return `${name} has too many values`;
  for (const item of values) {
    if (!/^[+-]?\d{1,5}$/.test(item)) return `${name} takes whole numbers, not ${JSON.stringify(item.slice(0, 20))}`;
    const n = Number(item);
    const magnitude = signed ? Math.abs(n) : n;
    if ((signed && n === 0) || magnitude < min || magnitude > max || (!signed && item.startsWith('-'))) return `${name} must be ${signed ? `${min} to ${max} or -${min} to -${max}` : `${min} to ${max}`}, not ${item}`;
  }
  return undefined;
}

/** Recurrence rules this service takes: RFC 5545 RRULE parts, at most hourly, no DTSTART/TZID inside. */
function parseRule(text: string): { rule?: RRule; problem?: string } {
  if (text.length > 500) return { problem: 'rrule is at most 500 characters' };
  if (/DTSTART|TZID|\n/i.test(text)) return { problem: 'rrule holds only the RRULE parts (FREQ=...;BYDAY=...); the start and time zone are fields of the schedule' };
  const seen = new Set<string>();
  for (const part of text.replace(/^RRULE:/i, '').split(';')) {
    const [name, value, extra] = part.split('=');
    if (!name || value === undefined || value === '' || extra !== undefined) return { problem: `rrule parts are NAME=VALUE separated by ";", not ${JSON.stringify(part.slice(0, 40))}` };
    const key = name.toUpperCase();
    if (seen.has(key)) return { problem: `rrule names ${key.slice(0, 20)} twice` };
    seen.add(key);
    const problem = partProblem(key, value.toUpperCase());
    if (problem) return { problem: `rrule: ${problem}` };
  }
  try {
    const options = RRule.parseString(text.replace(/^RRULE:/i, ''));
    if (options.freq === undefined) return { problem: 'rrule needs FREQ' };
    if (options.freq === Frequency.SECONDLY || options.freq === Frequency.MINUTELY) return { problem: 'rrule may repeat at most hourly (FREQ=HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY)' };
    return { rule: new RRule(options) };
  } catch (error) {
    return { problem: `rrule is not a valid recurrence rule: ${(error as Error).message.slice(0, 200)}` };
  }
}

/**
 * `localTime`: the wall-clock time is each user's own (their profile's zone, else their device's,
 * else `fallbackTimezone`, by default the schedule's own zone).
 */
const localFields = { localTime: z.boolean().optional(), fallbackTimezone: timezoneSchema.optional() };

/** A duration as the API writes it: a whole number and a unit, `30s`, `10m`, `12h`, `7d`. */
export const durationSchema = (field: string, maxMs = 366 * 86_400_000) =>
  z
    .string()
    .regex(/^\d{1,6}[smhd]$/, `${field} must be a number and a unit, such as "30s", "10m", "12h" or "7d"`)
    .refine((text) => !/^\d{1,6}[smhd]$/.test(text) || durationMs(text) <= maxMs, `${field} is at most ${Math.round(maxMs / 86_400_000)} days`);

/**
 * The day a date-attribute reminder is about, for a send at `instant` in `zone`: that day's date
 * there minus the offset ("-1d": the day before the date, so the date is tomorrow), as YYYY-MM-DD,
 * with that day's start and end as UTC ISO times.
 */
export function reminderDay(instant: number, zone: string, offset: string): { day: string; from: string; to: string } {
  const DAY = 86_400_000;
  const local = floatingAt(instant, zone);
  const midnight = local - (((local % DAY) + DAY) % DAY) - Number(offset.slice(0, -1)) * DAY;
  return { day: new Date(midnight).toISOString().slice(0, 10), from: new Date(placeInZone(midnight, zone)).toISOString(), to: new Date(placeInZone(midnight + DAY, zone)).toISOString() };
}

/** An event name as events take it: 1 to 64 characters of well-formed text without NUL. */
export const eventNameText = (field: string) =>
  z
    .string()
    .min(1, `${field} must not be empty`)
    .max(64, `${field} is at most 64 characters`)
    .refine((name) => name.isWellFormed() && !name.includes('\u0000'), `${field} must be well-formed text without NUL`);

/** A condition on a triggering event's properties. */
export const whereSchema = z
  .object({
    property: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'where[].property is a property name ([A-Za-z0-9_], at most 64 characters)'),
    op: z.enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'exists'], { error: 'where[].op must be eq, ne, gt, gte, lt, lte or exists' }),
    value: z.union([z.string().max(1024).refine((text) => text.isWellFormed() && !text.includes('\u0000'), 'where[].value must be well-formed text without NUL'), z.number(), z.boolean()]).optional(),
  })
  .strict()
  .refine((condition) => condition.op === 'exists' || condition.value !== undefined, 'where[].value is needed for every op but exists');
export type EventCondition = z.infer<typeof whereSchema>;

/** True when an event's properties meet every condition. */
export function eventMatches(where: EventCondition[] | undefined, properties: Record<string, unknown> | null): boolean {
  for (const { property, op, value } of where ?? []) {
    // Own properties only: "constructor" is no property of an event.
    const actual = properties && Object.hasOwn(properties, property) ? properties[property] : undefined;
    if (op === 'exists') {
      if (actual === undefined || actual === null) return false;
      continue;
    }
    if (op === 'eq' && actual !== value) return false;
    if (op === 'ne' && actual === value) return false;
    if (op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') {
      if (typeof actual !== typeof value || (typeof actual !== 'number' && typeof actual !== 'string')) return false;
      const a = actual as number | string;
      const b = value as number | string;
      if ((op === 'gt' && !(a > b)) || (op === 'gte' && !(a >= b)) || (op === 'lt' && !(a < b)) || (op === 'lte' && !(a <= b))) return false;
    }
  }
  return true;
}

export const scheduleSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('now') }).strict(),
    z.object({ type: z.literal('at'), at: wallTime('at'), timezone: timezoneSchema, ...localFields }).strict(),
    z
      .object({
        type: z.literal('dates'),
        dates: z.array(wallTime('dates[]')).min(1, 'dates must not be empty').max(MAX_DATES, `at most ${MAX_DATES} dates`),
        timezone: timezoneSchema,
        ...localFields,
      })
      .strict(),
    z
      .object({
        type: z.literal('recurring'),
        rrule: z.string().superRefine((value, ctx) => {
          const { problem } = parseRule(value);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        timezone: timezoneSchema,
        start: wallTime('start').optional(),
        end: wallTime('end').optional(),
        ...localFields,
      })
      .strict(),
    z
      .object({
        type: z.literal('event'),
        event: eventNameText('event'),
        where: z.array(whereSchema).max(10, 'at most 10 where conditions').optional(),
        delay: durationSchema('delay', 30 * 86_400_000).default('0s'),
        unless: z.object({ event: eventNameText('unless.event'), within: durationSchema('unless.within', 30 * 86_400_000) }).strict().optional(),
        reentry: z.union([z.literal('once'), durationSchema('reentry')]).default('once'),
      })
      .strict(),
    z
      .object({
        type: z.literal('date-attribute'),
        attribute: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'attribute is a profile attribute name ([A-Za-z0-9_], at most 64 characters)'),
        offset: z.string().regex(/^[+-]?\d{1,3}d$/, 'offset is a number of days before (-) or after the date, such as "-1d" or "0d"').default('0d'),
        at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'at is a time of day HH:MM, such as "09:00"'),
        timezone: timezoneSchema.default('UTC'),
        ...localFields,
      })
      .strict(),
  ],
  { error: 'schedule.type must be "now", "at", "dates", "recurring", "event" or "date-attribute"' },
);
export type Schedule = z.infer<typeof scheduleSchema>;

/**
 * How long before its due time (in the schedule's zone) a local-time occurrence is planned: the
 * zones furthest east (UTC+14) reach a wall-clock time up to 26 hours before the furthest west.
 */
export const LOCAL_TIME_LEAD_MS = 27 * 3_600_000;
/** How long before its due time an occurrence of this schedule is planned. */
export const leadOf = (schedule: Schedule): number => ('localTime' in schedule && schedule.localTime ? LOCAL_TIME_LEAD_MS : 0);
/** The zone of devices whose user and device name none. */
/** The zone a schedule's times are in (UTC for those without wall-clock times). */
export const zoneOfSchedule = (schedule: Schedule): string => (schedule.type === 'now' || schedule.type === 'event' ? 'UTC' : schedule.timezone);
export const fallbackZoneOf = (schedule: Schedule): string => ('fallbackTimezone' in schedule && schedule.fallbackTimezone !== undefined ? schedule.fallbackTimezone : zoneOfSchedule(schedule));

/** Milliseconds of a duration such as "10m". */
export function durationMs(text: string): number {
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(text.slice(0, -1)) * unit;
}

const PERIOD_MS: Partial<Record<Frequency, number>> = { [Frequency.HOURLY]: 3_600_000, [Frequency.DAILY]: 86_400_000, [Frequency.WEEKLY]: 7 * 86_400_000 };

/**
 * A start for expanding `rule` near `from` with the same occurrences as from `start`: rrule replays
 * a rule from its start on every lookup, which for an hourly rule launched a year ago is 9,000
 * steps. Hourly, daily and weekly periods have a fixed length in floating time, so the start moves
 * forward by whole periods (INTERVAL included) and the rule lands on the same times. Monthly and
 * yearly rules take few steps a year and are left as they are; so is a rule with COUNT, which
 * counts from its real start.
 */
function rebased(rule: RRule, start: number, from: number): number {
  const period = PERIOD_MS[rule.options.freq];
  if (period === undefined || rule.options.count !== null || from <= start) return start;
  const step = period * rule.options.interval;
  // Two steps back: a period that began before `from` may still hold occurrences after it.
  const steps = Math.max(0, Math.floor((from - start) / step) - 2);
  return start + steps * step;
}

/**
 * The first occurrence after `after` (exclusive), or undefined when there is none. `launchedAt`
 * is when the campaign was launched: a "now" schedule's one occurrence, and the start of a
 * recurring rule without its own start.
 */
export function nextOccurrence(schedule: Schedule, after: number, launchedAt: number): number | undefined {
  switch (schedule.type) {
    case 'event':
      // Triggered by events, not by the clock (see triggers in scheduler.ts).
      return undefined;
    case 'date-attribute': {
      // Every day at `at`; each day's sends take the users whose date is that day minus the offset.
      const [hour, minute] = schedule.at.split(':').map(Number);
      return nextOccurrence({ type: 'recurring', rrule: `FREQ=DAILY;BYHOUR=${hour};BYMINUTE=${minute};BYSECOND=0`, timezone: schedule.timezone }, after, launchedAt);
    }
    case 'now':
      return launchedAt > after ? launchedAt : undefined;
    case 'at': {
      const at = wallToInstant(schedule.at, schedule.timezone);
      return at > after ? at : undefined;
    }
    case 'dates': {
      const due = schedule.dates.map((date) => wallToInstant(date, schedule.timezone)).filter((at) => at > after);
      return due.length > 0 ? Math.min(...due) : undefined;
    }
    case 'recurring': {
      const { rule } = parseRule(schedule.rrule);
      if (!rule) return undefined;
      const zone = schedule.timezone;
      // Expanded in floating time from its start; each wall-clock time placed in the zone.
      // Without a start: the launch, to the minute (a rule without BYSECOND then fires at :00).
      const start = schedule.start ? floating(schedule.start) : floatingAt(launchedAt, zone) - (floatingAt(launchedAt, zone) % 60_000);
      const end = schedule.end ? wallToInstant(schedule.end, zone) : undefined;
      // Offsets are within ±14 h (and a jump moves a time by at most a few hours): start looking a day early.
      const lookFrom = Math.max(start, floatingAt(after, zone) - 86_400_000);
      const bound = new RRule({ ...rule.origOptions, dtstart: new Date(rebased(rule, start, lookFrom)) });
      let from = new Date(lookFrom);
      for (let guard = 0; guard < 1000; guard++) {
        const candidate = bound.after(from, guard === 0);
        if (!candidate) return undefined;
        const instant = placeInZone(candidate.getTime(), zone);
        if (end !== undefined && instant > end) return undefined;
        if (instant > after) return instant;
        from = candidate;
      }
      return undefined;
    }
  }
}
