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

/** A wall-clock time as the API takes it, checked to be a real calendar time. */
export const wallTime = (field: string) =>
  z.string().refine((value) => WALL_TIME.test(value) && DateTime.fromISO(value, { zone: 'UTC' }).isValid, `${field} must be a wall-clock time YYYY-MM-DDTHH:MM[:SS], such as "2026-12-24T09:00"`);

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
function floatingAt(instant: number, zone: string): number {
  return instant + IANAZone.create(zone).offset(instant) * 60_000;
}

export const wallToInstant = (wall: string, zone: string) => placeInZone(floating(wall), zone);

/** Recurrence rules this service takes: RFC 5545 RRULE parts, at most hourly, no DTSTART/TZID inside. */
function parseRule(text: string): { rule?: RRule; problem?: string } {
  if (text.length > 500) return { problem: 'rrule is at most 500 characters' };
  if (/DTSTART|TZID|\n/i.test(text)) return { problem: 'rrule holds only the RRULE parts (FREQ=...;BYDAY=...); the start and time zone are fields of the schedule' };
  try {
    const options = RRule.parseString(text.replace(/^RRULE:/i, ''));
    if (options.freq === undefined) return { problem: 'rrule needs FREQ' };
    if (options.freq === Frequency.SECONDLY || options.freq === Frequency.MINUTELY) return { problem: 'rrule may repeat at most hourly (FREQ=HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY)' };
    return { rule: new RRule(options) };
  } catch (error) {
    return { problem: `rrule is not a valid recurrence rule: ${(error as Error).message.slice(0, 200)}` };
  }
}

export const scheduleSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('now') }).strict(),
    z.object({ type: z.literal('at'), at: wallTime('at'), timezone: timezoneSchema }).strict(),
    z
      .object({ type: z.literal('dates'), dates: z.array(wallTime('dates[]')).min(1, 'dates must not be empty').max(MAX_DATES, `at most ${MAX_DATES} dates`), timezone: timezoneSchema })
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
      })
      .strict(),
  ],
  { error: 'schedule.type must be "now", "at", "dates" or "recurring"' },
);
export type Schedule = z.infer<typeof scheduleSchema>;

/** Milliseconds of a duration such as "10m". */
export function durationMs(text: string): number {
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(text.slice(0, -1)) * unit;
}

/**
 * The first occurrence after `after` (exclusive), or undefined when there is none. `launchedAt`
 * is when the campaign was launched: a "now" schedule's one occurrence, and the start of a
 * recurring rule without its own start.
 */
export function nextOccurrence(schedule: Schedule, after: number, launchedAt: number): number | undefined {
  switch (schedule.type) {
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
      const start = schedule.start ? floating(schedule.start) : floatingAt(launchedAt, zone) - (floatingAt(launchedAt, zone) % 1000);
      const end = schedule.end ? wallToInstant(schedule.end, zone) : undefined;
      const bound = new RRule({ ...rule.origOptions, dtstart: new Date(start) });
      // Offsets are within ±14 h (and a jump moves a time by at most a few hours): start looking a day early.
      let from = new Date(Math.max(start, floatingAt(after, zone) - 86_400_000));
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
