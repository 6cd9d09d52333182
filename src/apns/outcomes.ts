/** What APNs answered for one device: success, or a typed failure. */
export type ApnsResult = { ok: true } | ApnsFailure;

/**
 * A failed request. `status` is the HTTP status, or null when there was no answer (connection
 * error, reset stream, timeout). `timestamp` (ms) comes with 410: when APNs learned the token died.
 */
export interface ApnsFailure {
  ok: false;
  status: number | null;
  reason: string;
  timestamp?: number;
}

/** What the sender does with a device after an answer. */
export type Action =
  | 'sent'
  /** The token is dead: delete the device. */
  | 'remove'
  /** Delete the device only if it did not register again after the answer's timestamp. */
  | 'remove-unless-reregistered'
  /** Transient: try again later with backoff, keep the device. */
  | 'retry'
  /** Our credentials are refused: keep every device, stop the send, alert. */
  | 'stop'
  /** Our bug or a permanent refusal for this request: keep the device, record the reason. */
  | 'fail';

/**
 * The one table from APNs answers to actions (docs/protocol.md §1, "Sending through APNs"). Rows are checked in
 * order; the first whose status (and reason, when given) matches wins.
 */
export const OUTCOME_TABLE: ReadonlyArray<{ status: number | null | 'other5xx'; reasons?: string[]; action: Action }> = [
  { status: 400, reasons: ['BadDeviceToken', 'DeviceTokenNotForTopic'], action: 'remove' },
  { status: 410, action: 'remove-unless-reregistered' },
  { status: 403, action: 'stop' },
  { status: 429, action: 'retry' },
  { status: 'other5xx', action: 'retry' },
  { status: null, action: 'retry' },
];

/** Whether an answer's status (null = no answer) matches a table row's status; 'other5xx' is any 5xx not listed before it. */
export function statusMatches(row: number | null | 'other5xx', status: number | null): boolean {
  return row === 'other5xx' ? status !== null && status >= 500 : row === status;
}

export function actionFor(result: ApnsResult): Action {
  if (result.ok) return 'sent';
  const row = OUTCOME_TABLE.find((candidate) => statusMatches(candidate.status, result.status) && (!candidate.reasons || candidate.reasons.includes(result.reason)));
  return row?.action ?? 'fail';
}
