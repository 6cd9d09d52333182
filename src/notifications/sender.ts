import type { ApnsClient, PreparedMessage } from '../apns/client';
import { actionFor, type ApnsFailure } from '../apns/outcomes';
import type { DeviceRepository } from '../devices/repository';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/metrics';
import { maskToken } from '../logger';
import { buildSafariPayload } from './payload';
import type { Delivery, NotificationRepository, OutcomeRecord, StoredNotification } from './repository';

export interface SenderOptions {
  topic: string;
  maxAttempts: number;
  retryBaseMs: number;
  /** Devices read from the database per page. */
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

const MAX_RETRY_DELAY_MS = 60_000;
const FLUSH_EVERY = 200;

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

/** Why a send stopped early: APNs refused our credentials. */
class CredentialStop {
  constructor(readonly failure: ApnsFailure) {}
  get message(): string {
    return `APNs refused the credentials (${this.failure.status} ${this.failure.reason}): fix the APNs key or certificate; no device was removed`;
  }
}

/**
 * Sends one notification to every pending delivery and records exactly one outcome for each.
 * Pages through deliveries by id, keeps `concurrency` devices in progress, writes outcomes in
 * batches. `signal` (shutdown) stops taking new devices: what was not finished stays pending
 * and is picked up again after the restart.
 */
export async function sendNotification(notification: StoredNotification, deps: SenderDeps, options: SenderOptions, signal: AbortSignal): Promise<void> {
  const { apns, notifications, devices, logger } = deps;
  const log = logger.child({ notificationId: notification.id });
  const message = apns.prepare({
    topic: options.topic,
    payload: buildSafariPayload(notification),
    expiration: notification.expiration,
    priority: notification.priority,
    collapseId: notification.collapseId,
  });
  let stop: CredentialStop | undefined;
  const buffer: OutcomeRecord[] = [];
  const flush = async () => {
    const records = buffer.splice(0);
    await notifications.recordOutcomes(records, Date.now());
  };

  const deliver = async (delivery: Delivery): Promise<OutcomeRecord | undefined> => {
    for (let attempt = delivery.attempts + 1; ; attempt++) {
      if (stop) return { deliveryId: delivery.id, outcome: 'failed', status: null, reason: `NotSent: ${stop.failure.reason}`, attempts: attempt - 1 };
      const result = await apns.send(delivery.token, message as PreparedMessage);
      deps.metrics.apnsResponse(result.ok ? 200 : result.status, result.ok ? null : result.reason);
      const record = (outcome: OutcomeRecord['outcome'], status: number | null, reason: string | null): OutcomeRecord => ({
        deliveryId: delivery.id,
        outcome,
        status,
        reason,
        attempts: attempt,
      });
      if (result.ok) return record('sent', 200, null);
      const action = actionFor(result);
      switch (action) {
        case 'remove':
          await devices.removeToken(delivery.token);
          return record('removed', result.status, result.reason);
        case 'remove-unless-reregistered': {
          const removal = await devices.removeUnlessRegisteredAfter(delivery.token, result.timestamp ?? Date.now());
          return removal === 'kept' ? record('failed', result.status, `${result.reason} (kept: registered again after APNs' timestamp)`) : record('removed', result.status, result.reason);
        }
        case 'stop':
          stop ??= new CredentialStop(result);
          return record('failed', result.status, result.reason);
        case 'fail':
          return record('failed', result.status, result.reason);
        case 'retry':
          if (attempt >= options.maxAttempts) return record('failed', result.status, result.reason);
          log.debug({ token: maskToken(delivery.token), attempt, status: result.status, reason: result.reason }, 'APNs transient failure, retrying');
          await sleep(retryDelay(attempt, options.retryBaseMs), signal);
          if (signal.aborted) return undefined;
          break;
        default:
          action satisfies 'sent';
          return record('sent', 200, null);
      }
    }
  };

  const running = new Set<Promise<void>>();
  let afterId = 0;
  pages: while (!signal.aborted && !stop) {
    const page = await notifications.pendingAfter(notification.id, afterId, options.pageSize);
    if (page.length === 0) break;
    for (const delivery of page) {
      if (signal.aborted || stop) break pages;
      afterId = delivery.id;
      const task: Promise<void> = deliver(delivery).then(async (record) => {
        running.delete(task);
        if (record) {
          buffer.push(record);
          deps.metrics.delivery(record.outcome);
        }
        if (buffer.length >= FLUSH_EVERY) await flush();
      });
      running.add(task);
      if (running.size >= options.concurrency) await Promise.race(running);
    }
  }
  await Promise.all(running);
  await flush();

  if (stop) {
    const notSent = await notifications.failPending(notification.id, `NotSent: ${stop.failure.reason}`, Date.now());
    deps.metrics.delivery('failed', notSent);
    log.error({ status: stop.failure.status, reason: stop.failure.reason, notSent }, stop.message);
    await notifications.finish(notification.id, 'failed', stop.message, Date.now());
    return;
  }
  if (signal.aborted) {
    log.info('Send interrupted by shutdown; pending devices resume at the next start');
    return;
  }
  await notifications.finish(notification.id, 'completed', null, Date.now());
}
