import { statusMatches, type Action } from '../apns/outcomes';

/** What a push service answered for one subscription: accepted, or a typed failure. */
export type WebPushResult = { ok: true } | WebPushFailure;

/**
 * A refused or failed request. `status` is null when there was no answer (connection error,
 * timeout). `retryAfterMs` comes from a `Retry-After` header (429, 503).
 */
export interface WebPushFailure {
  ok: false;
  status: number | null;
  reason: string;
  retryAfterMs?: number;
  /** Trying again cannot help (the subscription's keys cannot be used): failed at once. */
  final?: true;
  /** No request was made (the origin is paused): waiting `retryAfterMs` does not use up an attempt. */
  notSent?: true;
}

/**
 * The one table from push service answers to actions (RFC 8030 §5-§8, docs/protocol.md §2). 404/410:
 * the subscription is gone for good. 401/403 mean the VAPID signature or key does not match what
 * the subscription was made with: a problem of ours, never a reason to delete the subscription.
 */
export const WEB_PUSH_OUTCOME_TABLE: ReadonlyArray<{ status: number | null | 'other5xx'; action: Action }> = [
  { status: 404, action: 'remove' },
  { status: 410, action: 'remove' },
  { status: 429, action: 'retry' },
  // WNS: "this channel is being throttled"; the client pauses the origin and the send tries later.
  { status: 406, action: 'retry' },
  { status: 'other5xx', action: 'retry' },
  { status: null, action: 'retry' },
];

export function webPushActionFor(result: WebPushResult): Action {
  if (result.ok) return 'sent';
  if (result.final) return 'fail';
  const row = WEB_PUSH_OUTCOME_TABLE.find((candidate) => statusMatches(candidate.status, result.status));
  return row?.action ?? 'fail';
}
