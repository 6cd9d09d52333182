import { z } from 'zod';

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;
/** "21:00" as minutes after midnight. */
export const minutesOf = (text: string): number => {
  const [, h, m] = CLOCK.exec(text) as RegExpExecArray;
  return Number(h) * 60 + Number(m);
};
const clockTime = (field: string) => z.string().regex(CLOCK, `${field} must be a time of day HH:MM, such as "21:00"`);

/** A nightly window in each user's own zone: `from` to `to` (the window may cross midnight). */
export const quietHoursSchema = z
  .object({
    from: clockTime('quietHours.from'),
    to: clockTime('quietHours.to'),
    policy: z.enum(['delay', 'discard'], { error: 'quietHours.policy must be "delay" (send when the window ends) or "discard" (skip those devices)' }),
  })
  .strict()
  .refine((window) => window.from !== window.to, 'quietHours.from and quietHours.to must differ');
export type QuietHoursRule = z.infer<typeof quietHoursSchema>;

/** Quiet hours as the scheduler uses them: minutes after local midnight. */
export interface QuietHours {
  from: number;
  to: number;
  policy: 'delay' | 'discard';
}
export const quietHoursOf = (rule: QuietHoursRule): QuietHours => ({ from: minutesOf(rule.from), to: minutesOf(rule.to), policy: rule.policy });

/**
 * How a campaign's occurrences are sent. `cutoff`: the latest time an occurrence may still go out;
 * one due but not fired by then is missed, and devices of a send not reached by then are skipped.
 * `quietHours`: the campaign's own window (or "off"), in place of QUIET_HOURS.
 */
export const rulesSchema = z
  .object({
    cutoff: z.iso.datetime({ offset: true, error: 'rules.cutoff must be an ISO 8601 date-time with its offset, such as "2026-12-24T18:00:00+01:00"' }).optional(),
    throttlePerMinute: z.number({ error: 'rules.throttlePerMinute must be a number of devices' }).int().min(1).max(1_000_000).optional(),
    frequencyCaps: z.enum(['respect', 'ignore'], { error: 'rules.frequencyCaps must be "respect" (the default) or "ignore"' }).optional(),
    quietHours: z.union([z.literal('off'), quietHoursSchema], { error: 'rules.quietHours must be "off" or {"from": "21:00", "to": "09:00", "policy": "delay" | "discard"}' }).optional(),
  })
  .strict()
  .default({});
export type Rules = z.infer<typeof rulesSchema>;

/** The cutoff as epoch milliseconds, if the rules have one. */
export const cutoffOf = (rules: Rules): number | undefined => (rules.cutoff === undefined ? undefined : Date.parse(rules.cutoff));

/** The quiet hours that hold for a campaign: its own, none ("off"), else the service's (QUIET_HOURS). */
export function effectiveQuietHours(rules: Rules, global: QuietHours | undefined): QuietHours | undefined {
  if (rules.quietHours === 'off') return undefined;
  if (rules.quietHours) return quietHoursOf(rules.quietHours);
  return global;
}
