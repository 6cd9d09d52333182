import type { Clock } from './clock';
import { IDEMPOTENCY_TTL_MS, type IdempotencyStore } from './idempotency/store';
import type { Logger } from './logger';
import type { LogRepository } from './logs/repository';
import type { AudienceRepository } from './audience/repository';
import type { NotificationRepository } from './notifications/repository';

export interface Housekeeping {
  /** One round now: what was deleted. */
  runOnce(): Promise<{ logs: number; idempotencyKeys: number; events: number; capRecords: number }>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;
const EVERY_MS = 60 * 60 * 1000;

/**
 * Keeps what grows without a bound in check: Safari log messages past LOG_RETENTION_DAYS (an
 * anonymous client can post them), user events past EVENT_RETENTION_DAYS, Idempotency-Keys
 * past their 24 hours and frequency-cap records past the longest cap's window. Runs at start and
 * hourly; a failed round is logged and tried again at the next.
 */
export function startHousekeeping(deps: {
  logs: LogRepository;
  idempotency: IdempotencyStore;
  audience: AudienceRepository;
  notifications: Pick<NotificationRepository, 'pruneLedger'>;
  frequencyCaps: Array<{ windowMs: number }>;
  clock: Clock;
  logger: Logger;
  logRetentionDays: number;
  eventRetentionDays: number;
}): Housekeeping {
  let running: Promise<unknown> = Promise.resolve();
  const runOnce = async () => {
    const now = deps.clock.now();
    const logs = await deps.logs.prune(now - deps.logRetentionDays * DAY_MS);
    const idempotencyKeys = await deps.idempotency.prune(now - IDEMPOTENCY_TTL_MS);
    const events = await deps.audience.pruneEvents(now - deps.eventRetentionDays * DAY_MS);
    // Frequency-cap records older than the longest cap's window count for nothing any more.
    const capRecords = await deps.notifications.pruneLedger(now - Math.max(DAY_MS, ...deps.frequencyCaps.map((cap) => cap.windowMs)) - DAY_MS);
    if (logs + idempotencyKeys + events + capRecords > 0) deps.logger.info({ logs, idempotencyKeys, events, capRecords }, 'Housekeeping: deleted expired rows');
    return { logs, idempotencyKeys, events, capRecords };
  };
  const round = () => {
    running = runOnce().catch((error: unknown) => deps.logger.error({ err: error }, 'Housekeeping failed; trying again in an hour'));
  };
  const first = setTimeout(round, 1000);
  const timer = setInterval(round, EVERY_MS);
  first.unref();
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
