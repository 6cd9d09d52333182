import { z } from 'zod';
import { durationSchema, eventNameText, whereSchema } from '../campaigns/schedule';

/** The longest conversion window: goal events are looked for this long after a delivery. */
export const MAX_GOAL_WINDOW_MS = 30 * 86_400_000;

/**
 * What counts as a conversion: an event of this name (with these properties) by the user within
 * `within` after a delivery was sent to them (or after they clicked it, `"after": "click"`).
 * `revenueProperty`: the event property summed as revenue.
 */
export const goalSchema = z
  .object({
    event: eventNameText('goal.event'),
    where: z.array(whereSchema).max(10, 'at most 10 where conditions').optional(),
    within: durationSchema('goal.within', MAX_GOAL_WINDOW_MS),
    revenueProperty: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'goal.revenueProperty is a property name ([A-Za-z0-9_], at most 64 characters)').optional(),
    after: z.enum(['sent', 'click'], { error: 'goal.after must be "sent" (the default) or "click"' }).default('sent'),
  })
  .strict();
export type Goal = z.infer<typeof goalSchema>;

/** Variant names: letters, digits, space and _.-, not "control" (the held-out group's name in reports). */
const variantName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/, 'variants[].name is 1 to 64 letters, digits, spaces and _.- (starting with a letter or digit)')
  .refine((name) => name.toLowerCase() !== 'control', 'variants[].name "control" is taken by the control group');

/**
 * An A/B variant: its name, its share of the treated audience (weights are relative) and what it
 * changes of the campaign's message (any message field; the rest is the campaign's).
 */
export const variantSchema = z
  .object({
    name: variantName,
    weight: z.number({ error: 'variants[].weight must be a whole number from 1 to 100' }).int().min(1).max(100),
    message: z.record(z.string(), z.unknown(), { error: 'variants[].message must be an object of message fields' }).default({}),
  })
  .strict();
export type Variant = z.infer<typeof variantSchema>;

/** Send the test share first, then the variant that did best on `metric` to the rest, `after` later. */
export const winnerSchema = z
  .object({
    metric: z.enum(['clicks', 'conversions'], { error: 'winner.metric must be "clicks" or "conversions"' }),
    after: durationSchema('winner.after', 7 * 86_400_000),
    testPercent: z.number({ error: 'winner.testPercent must be a whole number from 1 to 99' }).int().min(1).max(99),
  })
  .strict();

/** What a campaign measures, and how it splits its audience. */
export const resultFields = {
  goal: goalSchema.optional(),
  controlGroupPercent: z
    .number({ error: 'controlGroupPercent must be a number from 0 to 50' })
    .min(0)
    .max(50)
    .refine((value) => Number.isInteger(Math.round(value * 100)) && Math.abs(value * 100 - Math.round(value * 100)) < 1e-9, 'controlGroupPercent takes at most two decimals')
    .optional(),
  variants: z
    .array(variantSchema)
    .min(2, 'variants needs at least 2 (one message needs none)')
    .max(5, 'at most 5 variants')
    .refine((variants) => new Set(variants.map((v) => v.name.toLowerCase())).size === variants.length, 'variants[].name must differ from one another')
    .optional(),
  winner: winnerSchema.optional(),
};
export interface CampaignResults {
  goal?: Goal;
  controlGroupPercent?: number;
  variants?: Variant[];
  winner?: z.infer<typeof winnerSchema>;
}
