import crypto from 'node:crypto';
import { BUCKETS, bucketOf } from '../db/connection';
import { badRequest } from '../errors';
import { messageSchema, type Message } from '../notifications/routes';
import type { CampaignResults, Variant } from './goal';

/** One part of a campaign's audience: the control group, a variant, or the winner's share. */
export interface Part {
  /** "control", the variant's name, or null for the campaign's one message. */
  name: string | null;
  control: boolean;
  /** The users whose bucket (bucketOf(campaign id + ":" + user key)) is in [from, to). */
  from: number;
  to: number;
  message: Message;
}

export interface Split {
  /** What goes out when the occurrence fires: the control group, then each variant (or the one message). */
  parts: Part[];
  /** With a winner: the rest, sent later with the variant that did best. */
  rest?: { from: number; to: number };
}

/** The message a variant sends: the campaign's, with the variant's fields over it. */
export function variantMessage(base: Message, variant: Variant, index: number): Message {
  const parsed = messageSchema.safeParse({ ...base, ...variant.message });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badRequest(`variants[${index}].message.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'not a valid message'}`, 'invalid_variant');
  }
  return parsed.data;
}

/** Bounds in [from, to) cut by relative weights. */
function cut(from: number, to: number, weights: number[]): Array<[number, number]> {
  const total = weights.reduce((sum, w) => sum + w, 0);
  const bounds: Array<[number, number]> = [];
  let running = 0;
  let start = from;
  for (const weight of weights) {
    running += weight;
    const end = from + Math.floor(((to - from) * running) / total);
    bounds.push([start, end]);
    start = end;
  }
  return bounds;
}

/**
 * How a campaign splits its audience, deterministically: each user (or anonymous device) has a
 * bucket of 0 to 9,999 from the MD5 of the campaign id and its key, the same on every database and
 * every occurrence. The control group takes the lowest `controlGroupPercent` of the buckets; the
 * rest is cut by the variants' weights (with a winner, only its test share is, and the remainder
 * waits for the winner). Undefined when the campaign sends one message to everyone.
 */
export function splitOf(message: Message, results: CampaignResults): Split | undefined {
  const control = Math.round((results.controlGroupPercent ?? 0) * 100);
  const variants = results.variants ?? [];
  if (control === 0 && variants.length === 0) return undefined;
  const parts: Part[] = control > 0 ? [{ name: 'control', control: true, from: 0, to: control, message }] : [];
  const testEnd = results.winner && variants.length > 0 ? control + Math.floor(((BUCKETS - control) * results.winner.testPercent) / 100) : BUCKETS;
  if (variants.length === 0) parts.push({ name: null, control: false, from: control, to: BUCKETS, message });
  else cut(control, testEnd, variants.map((v) => v.weight)).forEach(([from, to], i) => parts.push({ name: variants[i].name, control: false, from, to, message: variantMessage(message, variants[i], i) }));
  return { parts, ...(testEnd < BUCKETS ? { rest: { from: testEnd, to: BUCKETS } } : {}) };
}

/** The split key of a campaign (prefixed to each user key before hashing). */
export const splitKey = (campaignId: string) => `${campaignId}:`;

/** The part a user (or an anonymous device, "d:<id>") falls in; undefined for the winner's share. */
export function partOfUser(split: Split, campaignId: string, userKey: string): Part | undefined {
  const bucket = bucketOf(`${splitKey(campaignId)}${userKey}`);
  return split.parts.find((part) => bucket >= part.from && bucket < part.to);
}

/** The notification id of one part of a send: derived from the send's own id, so every process finds the same. */
export function partId(sendNotificationId: string, part: string): string {
  const hex = crypto.createHash('sha256').update(`${sendNotificationId}:${part}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
export const partLabel = (part: Pick<Part, 'name' | 'control'>) => (part.control ? 'control' : `variant:${part.name ?? ''}`);
