import { z } from 'zod';

/**
 * How a campaign's occurrences are sent. `cutoff`: the latest time an occurrence may still go out;
 * one due but not fired by then (the service was down) is recorded as missed.
 */
export const rulesSchema = z
  .object({
    cutoff: z.iso.datetime({ offset: true, error: 'rules.cutoff must be an ISO 8601 date-time with its offset, such as "2026-12-24T18:00:00+01:00"' }).optional(),
  })
  .strict()
  .default({});
export type Rules = z.infer<typeof rulesSchema>;

/** The cutoff as epoch milliseconds, if the rules have one. */
export const cutoffOf = (rules: Rules): number | undefined => (rules.cutoff === undefined ? undefined : Date.parse(rules.cutoff));
