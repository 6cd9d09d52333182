import type { ApnsClient } from '../apns/client';
import { actionFor } from '../apns/outcomes';
import type { DeviceRepository } from '../devices/repository';
import type { Logger } from '../logger';
import { maskToken } from '../logger';
import type { Metrics } from '../metrics/metrics';
import { buildSafariPayload } from './payload';
import type { Delivery, NotificationRepository, OutcomeRecord, StoredNotification } from './repository';

export interface SenderOptions {
  topic: string;
  maxAttempts: number;
  retryBaseMs: number;
  /** Devices planned, read and handed out per page. */
  pageSize: number;
  /** Devices being worked on at once (sending or waiting to retry). */
  concurrency: number;
}

export interface SenderDeps {
  apns: ApnsClient;
  metrics: Pick<Metrics, 'apnsResponse' | 'delivery'>;
  notifications: NotificationRepository;
  devices: DeviceRepository;
  logger: Logger;
}

/** One notification being sent by this process: devices go in, outcomes come out, recorded in batches. */
export interface SendRun {
  /** Hands devices to the run; resolves as soon as there is room for more. */
  add(deliveries: Delivery[]): Promise<void>;
  /** Waits until every device handed over has its outcome recorded. */
  drain(): Promise<void>;
  /** True once no more devices should be taken: credentials refused (here or by another worker) or shutdown. */
  readonly halted: boolean;
}

const MAX_RETRY_DELAY_MS = 60_000;
const FLUSH_EVERY = 500;
const STOP_CHECK_MS = 1000;

/** Exponential backoff with jitter: base·2^(attempt-1), scaled by a random factor in [0.5, 1), capped. */
export function retryDelay(attempt: number, baseMs: number): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Starts sending `notification`. Each device gets exactly one recorded outcome, decided by the
 * APNs outcome table; transient failures are retried with backoff. `signal` (shutdown) stops taking
 * devices: what is not finished stays pending for the next run.
 */
export function startSendRun(notification: StoredNotification, deps: SenderDeps, options: SenderOptions, signal: AbortSignal): SendRun {
  const { apns, notifications, devices, metrics } = deps;
  const log = deps.logger.child({ notificationId: notification.id });
  const message = apns.prepare({
    topic: options.topic,
    payload: buildSafariPayload(notification),
    expiration: notification.expiration,
    priority: notification.priority,
    collapseId: notification.collapseId,
  });
  let stopped = false;
  let lastStopCheck = 0;
  // Devices in progress, and the one waiter (add or drain) to wake when one finishes. A counter, not
  // Promise.race over the in-flight set: racing N promises per device costs O(N) reactions each time.
  let active = 0;
  let wake: (() => void) | undefined;
  const slotFreed = () => new Promise<void>((resolve) => (wake = resolve));
  const settle = () => {
    active--;
    const waiter = wake;
    wake = undefined;
    waiter?.();
  };
  const buffer: OutcomeRecord[] = [];
  let flushing: Promise<void> = Promise.resolve();
  let writeError: unknown;

  // Writes happen one after another. A failed write puts its records back for the next attempt;
  // drain() reports the error if they still cannot be written (the devices then stay pending).
  const flush = () => {
    const records = buffer.splice(0);
    if (records.length === 0) return flushing;
    flushing = flushing.then(async () => {
      try {
        const added = await notifications.recordOutcomes(records, Date.now());
        for (const outcome of ['sent', 'failed', 'removed'] as const) if (added[outcome] > 0) metrics.delivery(outcome, added[outcome]);
        writeError = undefined;
      } catch (error) {
        buffer.unshift(...records);
        writeError = error;
      }
    });
    return flushing;
  };

  const noteStop = async (status: number | null, reason: string) => {
    if (stopped) return;
    stopped = true;
    const error = `APNs refused the credentials (${status} ${reason}): fix the APNs key or certificate; no device was removed`;
    log.error({ status, reason }, error);
    await notifications.stop(notification.id, error);
  };

  const deliver = async (delivery: Delivery): Promise<OutcomeRecord | undefined> => {
    for (let attempt = delivery.attempts + 1; ; attempt++) {
      // A stopped send leaves the device pending: the orchestrator fails all such devices at once.
      if (stopped || signal.aborted) return undefined;
      const result = await apns.send(delivery.token, message);
      metrics.apnsResponse(result.ok ? 200 : result.status, result.ok ? null : result.reason);
      const record = (outcome: OutcomeRecord['outcome'], status: number | null, reason: string | null): OutcomeRecord => ({
        notificationId: notification.id,
        deliveryId: delivery.id,
        outcome,
        status,
        reason,
        attempts: attempt,
      });
      if (result.ok) return record('sent', 200, null);
      switch (actionFor(result)) {
        case 'remove':
          await devices.removeToken(delivery.token);
          return record('removed', result.status, result.reason);
        case 'remove-unless-reregistered': {
          const removal = await devices.removeUnlessRegisteredAfter(delivery.token, result.timestamp ?? Date.now());
          return removal === 'kept' ? record('failed', result.status, `${result.reason} (kept: registered again after APNs' timestamp)`) : record('removed', result.status, result.reason);
        }
        case 'stop':
          await noteStop(result.status, result.reason);
          return record('failed', result.status, result.reason);
        case 'retry':
          if (attempt >= options.maxAttempts) return record('failed', result.status, result.reason);
          log.debug({ token: maskToken(delivery.token), attempt, status: result.status, reason: result.reason }, 'APNs transient failure, retrying');
          await sleep(retryDelay(attempt, options.retryBaseMs), signal);
          break;
        default:
          return record('failed', result.status, result.reason);
      }
    }
  };

  // Another worker may have met refused credentials: look at most once a second (no await otherwise).
  const checkStopped = (): Promise<void> | undefined => {
    if (stopped || Date.now() - lastStopCheck < STOP_CHECK_MS) return undefined;
    lastStopCheck = Date.now();
    return notifications.stopReason(notification.id).then((reason) => {
      if (reason) stopped = true;
    });
  };

  return {
    get halted() {
      return stopped || signal.aborted;
    },
    async add(deliveries) {
      for (const delivery of deliveries) {
        const checking = checkStopped();
        if (checking) await checking;
        if (stopped || signal.aborted) return;
        while (active >= options.concurrency) await slotFreed();
        active++;
        void deliver(delivery).then(
          (record) => {
            settle();
            if (!record) return;
            buffer.push(record);
            if (buffer.length >= FLUSH_EVERY) void flush();
          },
          (error: unknown) => {
            settle();
            // The device stays pending (a later run or the next start sends it); the send goes on.
            log.error({ err: error, token: maskToken(delivery.token) }, 'Delivery failed unexpectedly');
          },
        );
      }
    },
    async drain() {
      while (active > 0) await slotFreed();
      await flush();
      if (buffer.length > 0) await flush();
      if (writeError !== undefined) throw writeError;
    },
  };
}

/**
 * Ends a send once every device has an outcome: when the credentials were refused, every device
 * still without one is failed as not sent; then the notification is completed or failed.
 */
export async function concludeSend(id: string, deps: Pick<SenderDeps, 'notifications' | 'metrics'>): Promise<void> {
  const reason = await deps.notifications.stopReason(id);
  if (reason) {
    const notSent = await deps.notifications.failRemaining(id, `NotSent: ${reason.slice(0, 200)}`, Date.now());
    deps.metrics.delivery('failed', notSent);
  }
  await deps.notifications.finishIfDone(id, Date.now());
}
