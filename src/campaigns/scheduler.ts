import crypto from 'node:crypto';
import os from 'node:os';
import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { SegmentRepository } from '../audience/segments';
import type { SendQueue } from '../notifications/queue';
import type { Attribution } from '../results/attribution';
import { partId, partLabel, partOfUser, splitKey, splitOf, type Part } from '../results/parts';
import type { Message } from '../notifications/routes';
import type { NotificationRepository } from '../notifications/repository';
import { checkNotification, notificationInput, resolveTarget } from '../notifications/routes';
import type { Metrics } from '../metrics/metrics';
import type { NotificationInput, StoredNotification, Target } from '../notifications/repository';
import type { Campaign, CampaignRepository, LeasedTable, Occurrence, OccurrenceSend, TriggerEntry } from './repository';
import { cutoffOf, effectiveQuietHours, type QuietHours } from './rules';
import { durationMs, eventMatches, fallbackZoneOf, nextOccurrence, reminderDay, zoneOfSchedule } from './schedule';
import { inQuietHours, planSends, quietHoursEnd, throttled, type PlannedSend } from './zones';

const OCCURRENCES: LeasedTable = 'campaign_occurrences';
const SENDS: LeasedTable = 'occurrence_sends';
const TRIGGERS: LeasedTable = 'campaign_triggers';
/** Events a triggered campaign reads per round. */
const TRIGGER_BATCH = 1000;

export interface Scheduler {
  /** One round at the clock's time: records what is due and fires it. Rounds never overlap. */
  tick(): Promise<TickResult>;
  stop(): Promise<void>;
}

export interface TickResult {
  /** Occurrences recorded as due in this round. */
  recorded: number;
  /** Occurrences this process planned (their sends set). */
  planned: number;
  /** Sends this process fired (their notification created and queued, or its devices skipped). */
  fired: number;
  /** Occurrences and sends ended without a notification: missed, empty, failed or cancelled. */
  ended: number;
  /** Conversions recorded from the events that arrived since the last round. */
  converted: number;
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
 * - an occurrence is planned under a lease taken by a conditional UPDATE: its sends (one, or one
 *   per group of zones for local time and quiet hours, zones.ts) are stored in the transaction that
 *   marks it planned, only while the lease holds;
 * - each send is fired under a lease of its own, and its notification has the id chosen when the
 *   send was stored, so a second firer (a lease that ran out while the first was still at work)
 *   finds that notification instead of making another;
 * - a process killed while planning or firing leaves the lease to run out, and the next round
 *   anywhere takes it over.
 * Its work per round grows with campaigns, occurrences and zones, never with devices.
 */
export function startScheduler(deps: {
  campaigns: CampaignRepository;
  notifications: NotificationRepository;
  segments: SegmentRepository;
  queue: SendQueue;
  clock: Clock;
  logger: Logger;
  /** What checkNotification needs: the package's urlFormatString and the click-link settings. */
  urlFormatString: string;
  links: { clickTracking: boolean; serviceUrl: string };
  metrics?: Pick<Metrics, 'delivery'>;
  /** QUIET_HOURS: the window campaigns keep unless their rules say otherwise. */
  quietHours?: QuietHours;
  /** How long a lease lasts (default LEASE_MS). */
  leaseMs?: number;
  /** Milliseconds between rounds; 0: no timer (rounds only when tick() is called). */
  intervalMs: number;
  /** Conversions toward goals, attributed each round (results/attribution.ts). */
  attribution?: Attribution;
}): Scheduler {
  const owner = `${os.hostname().slice(0, 40)}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  const log = deps.logger.child({ component: 'scheduler' });
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /** Records every occurrence that came due (or, for local time, comes due within its lead), moving each campaign's next due time on. */
  const record = async (now: number): Promise<number> => {
    let recorded = 0;
    for (const campaign of await deps.campaigns.due(now, BATCH)) {
      const launchedAt = campaign.launchedAt ?? campaign.createdAt;
      const horizon = now + campaign.leadMs;
      const dueTimes: number[] = [];
      // Nothing due after the cutoff can be sent: the schedule ends there, and the campaign completes.
      const cutoff = cutoffOf(campaign.rules);
      const open = (at: number | undefined): number | undefined => (at !== undefined && cutoff !== undefined && at > cutoff ? undefined : at);
      let next: number | undefined = campaign.nextAt as number;
      while (next !== undefined && next <= horizon && dueTimes.length < MAX_CATCH_UP) {
        dueTimes.push(next);
        next = open(nextOccurrence(campaign.schedule, next, launchedAt));
      }
      // Down for longer than MAX_CATCH_UP occurrences: those between are not recorded at all.
      if (next !== undefined && next <= horizon) next = open(nextOccurrence(campaign.schedule, horizon, launchedAt));
      try {
        if (await deps.campaigns.advance(campaign.id, campaign.nextAt as number, next ?? null, dueTimes, now, campaign.leadMs)) recorded += dueTimes.length;
      } catch (error) {
        // One campaign that cannot be advanced does not hold up the others.
        log.error({ err: error, campaignId: campaign.id }, 'Could not record the occurrences of a campaign; trying again next round');
      }
    }
    return recorded;
  };

  type Ended = 'fired' | 'ended' | 'retry';
  /** Who a send reaches: the campaign's audience now, in the send's zones and slice. */
  const targetOf = async (campaign: Campaign, send: Pick<PlannedSend, 'zones' | 'othersThan' | 'slice' | 'dueAt'> | OccurrenceSend, now: number): Promise<Target> => {
    const target: Target = await resolveTarget(campaign.audience, deps.segments, now);
    if (send.zones !== null) target.zones = { in: send.zones, fallback: fallbackZoneOf(campaign.schedule), ...(send.othersThan ? { othersThan: send.othersThan } : {}) };
    if (send.slice) target.slice = send.slice;
    if (campaign.schedule.type === 'date-attribute' && 'dueAt' in send) {
      // The day depends on the send's zone (one offset for all of its zones at that instant).
      const zone = send.zones?.[0] ?? zoneOfSchedule(campaign.schedule);
      target.dateAttribute = { name: campaign.schedule.attribute, ...reminderDay(send.dueAt, zone, campaign.schedule.offset) };
    }
    return target;
  };
  const ended = (status: string): Ended => (status === 'fired' ? 'fired' : 'ended');

  /** Sets the sends of an occurrence this process holds: one, or one per group of zones. */
  const planOccurrence = async (occurrence: Occurrence, now: number): Promise<Ended> => {
    const settle = async (status: 'missed', reason: string) => {
      await deps.campaigns.settle(occurrence.id, owner, status, reason, now);
      log.info({ campaignId: occurrence.campaignId, occurrenceId: occurrence.id, status, reason }, 'Campaign occurrence ended without a send');
      return ended(status);
    };
    const campaign = await campaignFor(occurrence, OCCURRENCES, now);
    if (typeof campaign === 'string') return campaign;
    if (pastCutoff(campaign, now)) return settle('missed', `cutoff: due at ${new Date(occurrence.dueAt).toISOString()}, not fired by the cutoff ${campaign.rules.cutoff}`);
    if (await deps.campaigns.superseded(occurrence, now)) return settle('missed', 'superseded: a later occurrence of the campaign was due already');
    const { schedule } = campaign;
    const localTime = 'localTime' in schedule && schedule.localTime === true;
    const quiet = effectiveQuietHours(campaign.rules, deps.quietHours);
    const planned = planSends({
      dueAt: occurrence.dueAt,
      scheduleZone: zoneOfSchedule(schedule),
      localTime,
      zones: localTime || quiet ? await deps.campaigns.knownZones() : [],
      fallback: fallbackZoneOf(schedule),
      quiet,
    });
    const perMinute = campaign.rules.throttlePerMinute;
    const sends: PlannedSend[] = [];
    for (const send of planned) {
      if (perMinute === undefined || send.kind !== 'send') {
        sends.push(send);
        continue;
      }
      // Throttled: counted now, split into slices a minute apart.
      const target = await targetOf(campaign, send, now);
      sends.push(...throttled(send, await deps.notifications.countTarget(target), perMinute));
    }
    if (!(await deps.campaigns.plan(occurrence, owner, sends, now))) return 'retry';
    if (sends.length > 1) log.info({ campaignId: campaign.id, occurrenceId: occurrence.id, sends: sends.length }, 'Campaign occurrence goes out zone by zone');
    return 'fired';
  };

  /**
   * The campaign of a row this process holds, when the row may go ahead now. Otherwise the row is
   * ended (the campaign was cancelled, or `endedWhy` says why) or given back (the campaign is
   * paused), and that is the answer.
   */
  const campaignFor = async (row: { id: number; campaignId: string }, table: LeasedTable, now: number, endedWhy?: (campaign: Campaign) => string | undefined): Promise<Campaign | Ended> => {
    const campaign = await deps.campaigns.get(row.campaignId);
    const why = !campaign || campaign.status === 'cancelled' ? 'the campaign was cancelled' : endedWhy?.(campaign);
    if (why !== undefined || !campaign) {
      await deps.campaigns.settle(row.id, owner, 'cancelled', why ?? 'the campaign was cancelled', now, table);
      log.info({ campaignId: row.campaignId, id: row.id, table, reason: why }, 'Campaign occurrence ended without a send');
      return 'ended';
    }
    if (campaign.status !== 'scheduled' && campaign.status !== 'running') {
      // Paused meanwhile: it waits for the resume.
      await deps.campaigns.release(row.id, owner, table);
      return 'retry';
    }
    return campaign;
  };
  const pastCutoff = (campaign: Campaign, now: number) => {
    const cutoff = cutoffOf(campaign.rules);
    return cutoff !== undefined && now > cutoff;
  };
  /** What quiet hours say at `now` in `zone`: nothing (send), skip (discard), or the time to wait for (delay). */
  const quietAt = (quiet: QuietHours, zone: string, now: number): number | 'skip' | undefined => {
    if (!inQuietHours(now, zone, quiet)) return undefined;
    return quiet.policy === 'delay' ? quietHoursEnd(now, zone, quiet) : 'skip';
  };
  /**
   * Creates the notification of a send or entry under the id chosen when its row was stored, or
   * finds it when another process made it first; or says why it could not be made (empty, failed).
   */
  const createOnce = async (
    campaign: Campaign,
    notificationId: string,
    target: () => Promise<Target>,
    now: number,
    emptyReason: string,
    extra: Pick<NotificationInput, 'templateData'> = {},
    part: { message?: Message; variant?: string; control?: boolean; winner?: boolean; occurrenceId?: number } = {},
  ): Promise<StoredNotification | { ended: 'empty' | 'failed'; reason: string }> => {
    try {
      // Campaigns count toward FREQUENCY_CAPS and keep them unless their rules say "ignore"; a goal is measured on each part.
      const goal = campaign.results.goal;
      const input = { ...notificationInput(part.message ?? campaign.message, await target()), respectCaps: campaign.rules.frequencyCaps !== 'ignore', ...extra, ...(goal ? { goal } : {}) };
      // Checked again: what was fine at launch may not be now (an expiration that has passed).
      checkNotification(input, deps.urlFormatString, now, deps.links);
      const options = {
        id: notificationId,
        campaignId: campaign.id,
        ...(part.variant !== undefined ? { variant: part.variant } : {}),
        ...(part.control ? { control: true } : {}),
        ...(part.winner ? { winner: true } : {}),
        ...(part.occurrenceId !== undefined ? { occurrenceId: part.occurrenceId } : {}),
      };
      return await deps.notifications.create(input, now, options);
    } catch (error) {
      if (error instanceof AppError && error.code === 'no_devices') return { ended: 'empty', reason: emptyReason };
      if (error instanceof AppError && error.status < 500) return { ended: 'failed', reason: error.message };
      // Another process created it first (the unique id), or the database failed: look again.
      const made = await deps.notifications.get(notificationId);
      if (!made) throw error;
      return made;
    }
  };
  /**
   * Queues a send's notification, or, with a skip reason, gives each of its devices the outcome
   * skipped (held_out, for a control group: reason "control_group").
   */
  const conclude = async (notification: StoredNotification, skipReason: string | undefined, now: number): Promise<void> => {
    if (skipReason === undefined && !notification.control) {
      await deps.queue.enqueue(notification.id);
      return;
    }
    const outcome = notification.control && skipReason === undefined ? 'held_out' : 'skipped';
    deps.metrics?.delivery(outcome, await deps.notifications.failRemaining(notification.id, skipReason ?? 'control_group', now, outcome));
    await deps.notifications.finishIfDone(notification.id, now);
  };

  /**
   * Fires the parts of a send whose campaign holds back a control group or tests variants: each
   * part its own notification (its id derived from the send's), the control group's devices held
   * out, the others queued; with a winner, its send is added for later. Returns how many were made.
   */
  const fireParts = async (campaign: Campaign, send: OccurrenceSend, parts: Part[], now: number): Promise<{ made: number; reason: string }> => {
    let made = 0;
    let reason = 'no registered device matched the audience';
    for (const part of parts) {
      const id = partId(send.notificationId, partLabel(part));
      const target = async () => ({ ...(await targetOf(campaign, send, now)), split: { key: splitKey(campaign.id), from: part.from, to: part.to } });
      const notification =
        (await deps.notifications.get(id)) ??
        (await createOnce(campaign, id, target, now, 'no registered device matched the audience', {}, { message: part.message, ...(part.name !== null && !part.control ? { variant: part.name } : {}), control: part.control, occurrenceId: send.occurrenceId }));
      if ('ended' in notification) {
        if (notification.ended === 'failed') reason = notification.reason;
        continue;
      }
      made++;
      // Found again after a crash: queued once more, as a single send is (the queue takes an id once).
      await conclude(notification, undefined, now);
    }
    return { made, reason };
  };

  /** A winner send: the variant that did best in its test send goes to the rest of the audience. */
  const fireWinner = async (campaign: Campaign, send: OccurrenceSend, now: number): Promise<StoredNotification | { ended: 'empty' | 'failed'; reason: string }> => {
    const split = splitOf(campaign.message, campaign.results);
    const winner = campaign.results.winner;
    if (!split?.rest || !winner || send.testNotificationId === null) return { ended: 'failed', reason: 'the campaign no longer tests variants with a winner' };
    let best: { part: Part; score: number } | undefined;
    for (const part of split.parts) {
      if (part.control) continue;
      const tested = await deps.notifications.get(partId(send.testNotificationId, partLabel(part)));
      const counts = tested ? await deps.notifications.counts(tested) : undefined;
      const reached = winner.metric === 'clicks' ? (counts?.sent ?? 0) : (tested?.usersReached ?? counts?.sent ?? 0);
      const score = reached > 0 ? (winner.metric === 'clicks' ? (counts?.clicked ?? 0) : (counts?.converted ?? 0)) / reached : 0;
      // Ties go to the earlier variant.
      if (!best || score > best.score) best = { part, score };
    }
    if (!best) return { ended: 'failed', reason: 'no variant to choose from' };
    const rest = split.rest;
    const chosen = best.part;
    log.info({ campaignId: campaign.id, sendId: send.id, variant: chosen.name, score: best.score, metric: winner.metric }, 'A/B test decided: the best variant goes to the rest');
    return createOnce(
      campaign,
      send.notificationId,
      async () => ({ ...(await targetOf(campaign, send, now)), split: { key: splitKey(campaign.id), from: rest.from, to: rest.to } }),
      now,
      'no registered device matched the rest of the audience',
      {},
      { message: chosen.message, ...(chosen.name !== null ? { variant: chosen.name } : {}), winner: true, occurrenceId: send.occurrenceId },
    );
  };

  /** Fires one send this process holds: creates its notification (once) and queues it. */
  const fireSend = async (send: OccurrenceSend, now: number): Promise<Ended> => {
    const settle = async (status: 'fired' | 'empty' | 'failed', reason: string | null) => {
      await deps.campaigns.settle(send.id, owner, status, reason, now, SENDS);
      if (status !== 'fired') log.info({ campaignId: send.campaignId, sendId: send.id, status, reason }, 'Campaign send ended without a notification');
      return ended(status);
    };
    const campaign = await campaignFor(send, SENDS, now);
    if (typeof campaign === 'string') return campaign;
    // Its devices get no message but still one outcome each: skipped, with the reason.
    let skipReason = send.kind === 'skip' ? (send.skipReason ?? 'skipped') : pastCutoff(campaign, now) ? 'cutoff' : undefined;
    // A send held up (a pause, downtime) may now fall in its zones' quiet hours: checked again.
    const quiet = effectiveQuietHours(campaign.rules, deps.quietHours);
    const zone = send.zones?.[0];
    if (skipReason === undefined && quiet && zone !== undefined && now > send.dueAt) {
      const verdict = quietAt(quiet, zone, now);
      if (typeof verdict === 'number') {
        await deps.campaigns.release(send.id, owner, SENDS, verdict);
        return 'retry';
      }
      if (verdict === 'skip') skipReason = 'quiet_hours';
    }
    // A control group or variants: each part a notification of its own (a skipped send stays one).
    const split = skipReason === undefined && send.kind === 'send' ? splitOf(campaign.message, campaign.results) : undefined;
    if (split) {
      const { made, reason } = await fireParts(campaign, send, split.parts, now);
      if (split.rest && campaign.results.winner) await deps.campaigns.addWinnerSend(send, send.dueAt + durationMs(campaign.results.winner.after), partId(send.notificationId, 'winner'), now);
      return made > 0 || split.rest ? settle('fired', null) : settle('empty', reason);
    }
    const notification =
      (await deps.notifications.get(send.notificationId)) ??
      (send.kind === 'winner'
        ? await fireWinner(campaign, send, now)
        : await createOnce(campaign, send.notificationId, () => targetOf(campaign, send, now), now, 'no registered device matched the audience', {}, { occurrenceId: send.occurrenceId }));
    if ('ended' in notification) return settle(notification.ended, notification.reason);
    await conclude(notification, skipReason, now);
    return settle('fired', null);
  };

  /** Turns new events of each triggered campaign into entries, due after its delay. */
  const collect = async (now: number): Promise<number> => {
    let recorded = 0;
    for (const campaign of await deps.campaigns.triggered()) {
      const { schedule } = campaign;
      if (schedule.type !== 'event' || campaign.triggerAfter === null) continue;
      try {
        const { events, through } = await deps.campaigns.eventsAfter(schedule.event, campaign.triggerAfter, TRIGGER_BATCH, now);
        if (through === campaign.triggerAfter) continue;
        const entries = [];
        const last = new Map<string, number | undefined>();
        // "unless within": the entry is looked at once that window has passed too.
        const wait = Math.max(durationMs(schedule.delay), schedule.unless ? durationMs(schedule.unless.within) : 0);
        for (const event of events) {
          if (event.userId === null || !eventMatches(schedule.where, event.properties)) continue;
          if (!last.has(event.userId)) last.set(event.userId, await deps.campaigns.lastEntryAt(campaign.id, event.userId));
          const previous = last.get(event.userId);
          // Re-entry: once ever, or not within the given time of the user's last entry.
          if (previous !== undefined && (schedule.reentry === 'once' || event.time - previous < durationMs(schedule.reentry))) continue;
          last.set(event.userId, event.time);
          entries.push({ campaignId: campaign.id, userId: event.userId, eventId: event.id, eventTime: event.time, event: { name: event.name, properties: event.properties }, dueAt: event.time + wait });
        }
        if (await deps.campaigns.recordTriggers(campaign.id, campaign.triggerAfter, through, entries, now)) recorded += entries.length;
      } catch (error) {
        log.error({ err: error, campaignId: campaign.id }, 'Could not read the events of a triggered campaign; trying again next round');
      }
    }
    return recorded;
  };

  /** Sends one due trigger entry to its user, unless the "unless" event came, or quiet hours say otherwise. */
  const fireTrigger = async (entry: TriggerEntry, now: number): Promise<Ended> => {
    const settle = async (status: 'fired' | 'missed' | 'empty' | 'failed', reason: string | null) => {
      await deps.campaigns.settle(entry.id, owner, status, reason, now, TRIGGERS);
      return ended(status);
    };
    // No longer triggered (its schedule was changed): the entry ends rather than waiting for ever.
    const campaign = await campaignFor(entry, TRIGGERS, now, (c) => (c.schedule.type === 'event' ? undefined : 'the schedule was changed'));
    if (typeof campaign === 'string') return campaign;
    const { schedule } = campaign;
    // Only for the type: campaignFor ended the entry of a campaign that is no longer triggered.
    if (schedule.type !== 'event') return 'ended';
    let notification: StoredNotification | { ended: 'empty' | 'failed'; reason: string } | undefined = await deps.notifications.get(entry.notificationId);
    let skipReason: string | undefined;
    if (!notification) {
      if (schedule.unless && (await deps.campaigns.didEvent(entry.userId, schedule.unless.event, entry.eventTime, entry.eventTime + durationMs(schedule.unless.within), entry.eventId))) {
        return settle('missed', `unless: ${schedule.unless.event} came within ${schedule.unless.within}`);
      }
      if (pastCutoff(campaign, now)) skipReason = 'cutoff';
      const quiet = effectiveQuietHours(campaign.rules, deps.quietHours);
      if (skipReason === undefined && quiet) {
        const verdict = quietAt(quiet, (await deps.campaigns.zoneOf(entry.userId)) ?? 'UTC', now);
        if (typeof verdict === 'number') {
          await deps.campaigns.release(entry.id, owner, TRIGGERS, verdict);
          return 'retry';
        }
        if (verdict === 'skip') skipReason = 'quiet_hours';
      }
      // A control group or variants: the user's part decides the message, or holds it back.
      const split = splitOf(campaign.message, campaign.results);
      const part = split ? partOfUser(split, campaign.id, `u:${entry.userId}`) : undefined;
      notification = await createOnce(
        campaign,
        entry.notificationId,
        () => resolveTarget({ users: [entry.userId] }, deps.segments, now),
        now,
        'the user has no registered device',
        { templateData: { event: { ...entry.event.properties, name: entry.event.name, time: new Date(entry.eventTime).toISOString() } } },
        part ? { message: part.message, ...(part.name !== null && !part.control ? { variant: part.name } : {}), control: part.control } : {},
      );
      if ('ended' in notification) return settle(notification.ended, notification.reason);
    }
    await conclude(notification, skipReason, now);
    return settle('fired', null);
  };

  /** Claims and works through what is claimable of one kind. */
  const work = async <T extends { id: number; campaignId: string }>(items: T[], table: LeasedTable, now: number, act: (item: T) => Promise<Ended>, result: TickResult) => {
    for (const item of items) {
      if (stopped) break;
      if (!(await deps.campaigns.claim(item.id, owner, now, now + (deps.leaseMs ?? LEASE_MS), table))) continue;
      try {
        const outcome = await act(item);
        if (outcome === 'fired') result.fired++;
        else if (outcome === 'ended') result.ended++;
      } catch (error) {
        log.error({ err: error, campaignId: item.campaignId, id: item.id, table }, 'Could not fire a campaign occurrence; trying again next round');
        await deps.campaigns.release(item.id, owner, table).catch(() => undefined);
      }
    }
  };

  const round = async (): Promise<TickResult> => {
    const now = deps.clock.now();
    const result: TickResult = { recorded: (await record(now)) + (await collect(now)), planned: 0, fired: 0, ended: 0, converted: 0 };
    const planning: TickResult = { ...result, fired: 0, ended: 0 };
    await work(await deps.campaigns.claimable(now, BATCH), OCCURRENCES, now, (o) => planOccurrence(o, now), planning);
    result.planned = planning.fired;
    result.ended += planning.ended;
    await work(await deps.campaigns.claimableSends(now, BATCH), SENDS, now, (s) => fireSend(s, now), result);
    await work(await deps.campaigns.claimableTriggers(now, BATCH), TRIGGERS, now, (t) => fireTrigger(t, now), result);
    await deps.campaigns.completeFinished(now);
    if (deps.attribution) result.converted = await deps.attribution.round(now);
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
