import crypto from 'node:crypto';
import os from 'node:os';
import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { SegmentRepository } from '../audience/segments';
import type { SendQueue } from '../notifications/queue';
import type { NotificationRepository } from '../notifications/repository';
import { notificationInput, resolveTarget } from '../notifications/routes';
import type { CampaignRepository, Occurrence } from './repository';
import { cutoffOf } from './rules';
import { nextOccurrence } from './schedule';

export interface Scheduler {
  /** One round at the clock's time: records what is due and fires it. Rounds never overlap. */
  tick(): Promise<TickResult>;
  stop(): Promise<void>;
}

export interface TickResult {
  /** Occurrences recorded as due in this round. */
  recorded: number;
  /** Occurrences this process fired (their notification created and queued). */
  fired: number;
  /** Occurrences ended without a send: missed, empty or failed. */
  ended: number;
}

/** How long a process may hold an occurrence while it fires it, before another may take over. */
export const LEASE_MS = 60_000;
/** The most occurrences one campaign records in one round after downtime (the rest are skipped over). */
const MAX_CATCH_UP = 100;
const BATCH = 100;

/**
 * The campaign scheduler. Every process runs one (API processes and workers alike); they agree
 * through the database, not through each other:
 * - a campaign's next due time moves by a conditional UPDATE, so each occurrence is recorded once
 *   (and `(campaign, due time)` is unique besides);
 * - an occurrence is fired under a lease taken by a conditional UPDATE, and its notification has the
 *   id chosen when the occurrence was recorded, so a second firer (a lease that ran out while the
 *   first was still at work) finds that notification instead of making another;
 * - a process killed while firing leaves the lease to run out, and the next round anywhere fires it.
 * Its work per round grows with campaigns and occurrences, never with devices.
 */
export function startScheduler(deps: {
  campaigns: CampaignRepository;
  notifications: NotificationRepository;
  segments: SegmentRepository;
  queue: SendQueue;
  clock: Clock;
  logger: Logger;
  /** Milliseconds between rounds; 0: no timer (rounds only when tick() is called). */
  intervalMs: number;
}): Scheduler {
  const owner = `${os.hostname().slice(0, 40)}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  const log = deps.logger.child({ component: 'scheduler' });
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /** Records every occurrence that came due, moving each campaign's next due time past `now`. */
  const record = async (now: number): Promise<number> => {
    let recorded = 0;
    for (const campaign of await deps.campaigns.due(now, BATCH)) {
      const launchedAt = campaign.launchedAt ?? campaign.createdAt;
      const dueTimes: number[] = [];
      let next: number | undefined = campaign.nextAt as number;
      while (next !== undefined && next <= now && dueTimes.length < MAX_CATCH_UP) {
        dueTimes.push(next);
        next = nextOccurrence(campaign.schedule, next, launchedAt);
      }
      // Down for longer than MAX_CATCH_UP occurrences: those between are not recorded at all.
      if (next !== undefined && next <= now) next = nextOccurrence(campaign.schedule, now, launchedAt);
      if (await deps.campaigns.advance(campaign.id, campaign.nextAt as number, next ?? null, dueTimes, now)) recorded += dueTimes.length;
    }
    return recorded;
  };

  /** Fires one occurrence this process holds the lease of; 'fired', 'ended' or 'retry'. */
  const fire = async (occurrence: Occurrence, now: number): Promise<'fired' | 'ended' | 'retry'> => {
    const settle = async (status: 'fired' | 'missed' | 'empty' | 'failed' | 'cancelled', reason: string | null) => {
      await deps.campaigns.settle(occurrence.id, owner, status, reason, now);
      if (status !== 'fired') log.info({ campaignId: occurrence.campaignId, occurrenceId: occurrence.id, status, reason }, 'Campaign occurrence ended without a send');
      return status === 'fired' ? ('fired' as const) : ('ended' as const);
    };
    const campaign = await deps.campaigns.get(occurrence.campaignId);
    if (!campaign || campaign.status === 'cancelled') return settle('cancelled', 'the campaign was cancelled');
    if (campaign.status !== 'scheduled' && campaign.status !== 'running') {
      // Paused meanwhile: it waits for the resume.
      await deps.campaigns.release(occurrence.id, owner);
      return 'retry';
    }
    let exists = (await deps.notifications.get(occurrence.notificationId)) !== undefined;
    if (!exists) {
      const cutoff = cutoffOf(campaign.rules);
      if (cutoff !== undefined && now > cutoff) return settle('missed', `cutoff: due at ${new Date(occurrence.dueAt).toISOString()}, not fired by the cutoff ${campaign.rules.cutoff}`);
      if (await deps.campaigns.superseded(occurrence, now)) return settle('missed', 'superseded: a later occurrence of the campaign was due already');
      try {
        const input = notificationInput(campaign.message, await resolveTarget(campaign.audience, deps.segments, now));
        await deps.notifications.create(input, now, { id: occurrence.notificationId, campaignId: campaign.id });
        exists = true;
      } catch (error) {
        if (error instanceof AppError && error.code === 'no_devices') return settle('empty', 'no registered device matched the audience');
        if (error instanceof AppError && error.status < 500) return settle('failed', error.message);
        // Another process created it first (the unique id), or the database failed: look again.
        if (!(await deps.notifications.get(occurrence.notificationId))) throw error;
      }
    }
    await deps.queue.enqueue(occurrence.notificationId);
    return settle('fired', null);
  };

  const round = async (): Promise<TickResult> => {
    const now = deps.clock.now();
    const result: TickResult = { recorded: await record(now), fired: 0, ended: 0 };
    for (const occurrence of await deps.campaigns.claimable(now, BATCH)) {
      if (stopped) break;
      if (!(await deps.campaigns.claim(occurrence.id, owner, now, now + LEASE_MS))) continue;
      try {
        const outcome = await fire(occurrence, now);
        if (outcome === 'fired') result.fired++;
        else if (outcome === 'ended') result.ended++;
      } catch (error) {
        log.error({ err: error, campaignId: occurrence.campaignId, occurrenceId: occurrence.id }, 'Could not fire a campaign occurrence; trying again next round');
        await deps.campaigns.release(occurrence.id, owner).catch(() => undefined);
      }
    }
    await deps.campaigns.completeFinished(now);
    return result;
  };

  const tick = () => {
    const next = chain.then(round, round);
    chain = next.catch(() => undefined);
    return next;
  };
  const schedule = () => {
    if (stopped || deps.intervalMs <= 0) return;
    timer = setTimeout(() => {
      tick()
        .catch((error: unknown) => log.error({ err: error }, 'Scheduler round failed; trying again'))
        .finally(schedule);
    }, deps.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await chain;
    },
  };
}
