import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Clock } from '../clock';
import { AppError, badRequest, notFound } from '../errors';
import { iso, pageQuery } from '../http/paging';
import { jsonBody } from '../http/json-body';
import { storedText } from '../http/text';
import { parseInput } from '../http/validate';
import { parseFilter } from '../audience/filter';
import type { SegmentRepository } from '../audience/segments';
import type { SendQueue } from '../notifications/queue';
import type { NotificationRepository } from '../notifications/repository';
import { audienceSchema, checkNotification, messageSchema, notificationInput, queueAccepted, resolveTarget, type Audience, type Message } from '../notifications/routes';
import { CAMPAIGN_STATUSES, type Campaign, type CampaignInput, type CampaignRepository, type CampaignStatus, type Occurrence, type OccurrenceSend, type TriggerEntry } from './repository';
import { ruleCostProblem } from './rule-check';
import { rulesSchema } from './rules';
import { nextOccurrence, scheduleSchema, type Schedule } from './schedule';
import { resultFields, type CampaignResults } from '../results/goal';
import { partId, partLabel, splitOf, variantMessage } from '../results/parts';
import { reportCsv, type CampaignReport } from '../results/report';

/** Letters, digits and ` _.:/-`: a label is matched exactly inside the stored JSON list. */
const label = z.string().regex(/^[\p{L}\p{N}][\p{L}\p{N} _.:/-]{0,63}$/u, 'a label is 1 to 64 letters, digits, spaces and _.:/- (starting with a letter or digit)');
const MAX_LABELS = 20;
const MAX_TEST_USERS = 100;

const campaignFields = {
  name: storedText().min(1, 'name must not be empty').max(255),
  labels: z.array(label).max(MAX_LABELS, `at most ${MAX_LABELS} labels`),
  message: messageSchema,
  audience: audienceSchema,
  schedule: scheduleSchema,
  rules: rulesSchema,
  ...resultFields,
};
const RESULT_KEYS = ['goal', 'controlGroupPercent', 'variants', 'winner'] as const;
const createSchema = z.object({ ...campaignFields, labels: campaignFields.labels.default([]) }).strict();
const patchSchema = z
  .object({
    ...campaignFields,
    rules: rulesSchema.removeDefault(),
    // null removes a result field.
    goal: resultFields.goal.nullable(),
    controlGroupPercent: resultFields.controlGroupPercent.nullable(),
    variants: resultFields.variants.nullable(),
    winner: resultFields.winner.nullable(),
  })
  .partial()
  .strict()
  .refine((change) => Object.keys(change).length > 0, 'the change names at least one field');
const listQuery = pageQuery.extend({ status: z.enum(CAMPAIGN_STATUSES).optional(), label: label.optional() });
const testSchema = z
  .object({
    userIds: z.array(storedText().min(1).max(255)).min(1, 'userIds must not be empty').max(MAX_TEST_USERS, `at most ${MAX_TEST_USERS} userIds`).optional(),
    variant: z.string().max(64).optional(),
  })
  .strict();

/** The result fields of a create or a change, over what the campaign had (a field given as null is removed). */
function resultsOf(body: Partial<Record<(typeof RESULT_KEYS)[number], unknown>>, before: CampaignResults = {}): CampaignResults {
  const results: Record<string, unknown> = { ...before };
  for (const key of RESULT_KEYS) if (key in body) results[key] = body[key];
  for (const key of RESULT_KEYS) if (results[key] === undefined || results[key] === null) delete results[key];
  return results as CampaignResults;
}

const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function campaignView(campaign: Campaign) {
  return {
    id: campaign.id,
    name: campaign.name,
    labels: campaign.labels,
    status: campaign.status,
    message: campaign.message,
    audience: campaign.audience,
    schedule: campaign.schedule,
    rules: campaign.rules,
    ...campaign.results,
    nextOccurrence: isoOrNull(campaign.nextAt),
    launchedAt: isoOrNull(campaign.launchedAt),
    createdAt: iso(campaign.createdAt),
    updatedAt: iso(campaign.updatedAt),
  };
}

const conflict = (campaign: Campaign, wanted: string) =>
  new AppError(409, 'invalid_status', `The campaign is ${campaign.status}: ${wanted}`);

/** The campaign API; mounted behind the API key check. */
export function campaignRouter(deps: {
  /** A campaign's report (results/report.ts), or one occurrence's. */
  report(campaignId: string, occurrenceId?: number, options?: { controlGroup?: boolean }): Promise<CampaignReport>;
  campaigns: CampaignRepository;
  notifications: NotificationRepository;
  segments: SegmentRepository;
  queue: SendQueue;
  clock: Clock;
  urlFormatString: string;
  links: { clickTracking: boolean; serviceUrl: string };
  idempotency: (scope: string) => RequestHandler;
}): Router {
  const { campaigns, clock } = deps;
  const router = Router();
  const load = async (id: string) => {
    const campaign = z.uuid().safeParse(id).success ? await campaigns.get(id) : undefined;
    if (!campaign) throw notFound('No campaign with that id');
    return campaign;
  };

  /** 400 unless the message can be sent, the audience names something that exists and the schedule's rule is cheap to expand. */
  const check = async (message: Message, audience: Audience, now: number, schedule?: Schedule, results: CampaignResults = {}) => {
    const costly = schedule ? await ruleCostProblem(schedule, now) : undefined;
    if (costly) throw badRequest(costly, 'costly_rrule');
    if ('filter' in audience) parseFilter(audience.filter, 'audience.filter');
    if ('segment' in audience && !(await deps.segments.get(audience.segment))) throw badRequest('audience.segment: no saved segment has that id', 'unknown_segment');
    checkNotification(notificationInput(message, { all: true }), deps.urlFormatString, now, deps.links);
    // Every variant's message (the campaign's with the variant's fields over it) must be sendable too.
    for (const [i, variant] of (results.variants ?? []).entries()) checkNotification(notificationInput(variantMessage(message, variant, i), { all: true }), deps.urlFormatString, now, deps.links);
    if (results.winner && !results.variants) throw badRequest('winner needs variants to choose from', 'invalid_results');
    if (results.winner?.metric === 'conversions' && !results.goal) throw badRequest('winner.metric "conversions" needs a goal', 'invalid_results');
    if (results.winner?.metric === 'clicks' && !deps.links.clickTracking) throw badRequest('winner.metric "clicks" needs CLICK_TRACKING=true (without it no click is counted)', 'invalid_results');
    if (results.winner && schedule?.type === 'event') throw badRequest('winner is for scheduled campaigns: a triggered campaign sends each user as their event comes, with no rest to send later', 'invalid_results');
  };
  /** Where the notification of a send or entry stands, once it exists. */
  const progressOf = async (notificationId: string) => {
    const notification = await deps.notifications.get(notificationId);
    if (!notification) return null;
    const counts = await deps.notifications.counts(notification);
    return {
      id: notification.id,
      status: notification.status,
      ...(notification.variant !== null ? { variant: notification.variant } : {}),
      ...(notification.control ? { control: true } : {}),
      counts: { targeted: notification.targeted, sent: counts.sent, failed: counts.failed, removed: counts.removed, skipped: counts.skipped, heldOut: counts.held_out, pending: counts.pending, clicked: counts.clicked },
    };
  };
  /** The first occurrence at or after `now`, for a launch or a changed schedule. */
  const firstFrom = (schedule: Schedule, now: number, launchedAt: number) => nextOccurrence(schedule, now - 1, launchedAt);

  router.post('/campaigns', ...jsonBody('512kb'), deps.idempotency('POST /api/v1/campaigns'), async (req, res) => {
    const body = parseInput(createSchema, req.body, 'campaign');
    const now = clock.now();
    const results = resultsOf(body);
    await check(body.message, body.audience, now, body.schedule, results);
    const { goal: _goal, controlGroupPercent: _control, variants: _variants, winner: _winner, ...fields } = body;
    const created = await campaigns.create({ ...(fields as Omit<CampaignInput, 'results'>), results }, now);
    res.status(201).json(campaignView(created));
  });

  router.get('/campaigns', async (req, res) => {
    const page = await campaigns.list(parseInput(listQuery, req.query, 'query'));
    res.json({ items: page.items.map(campaignView), nextCursor: page.nextCursor });
  });

  router.get('/campaigns/:id', async (req, res) => {
    res.json(campaignView(await load(String(req.params.id))));
  });

  router.patch('/campaigns/:id', ...jsonBody('512kb'), async (req, res) => {
    const campaign = await load(String(req.params.id));
    const parsed = parseInput(patchSchema, req.body, 'change');
    const { goal: _goal, controlGroupPercent: _control, variants: _variants, winner: _winner, ...fields } = parsed;
    const change: Partial<CampaignInput> = { ...(fields as Partial<CampaignInput>) };
    if (RESULT_KEYS.some((key) => key in parsed)) change.results = resultsOf(parsed, campaign.results);
    const now = clock.now();
    const editable: CampaignStatus[] = ['draft', 'paused'];
    if (!editable.includes(campaign.status)) throw conflict(campaign, 'only a draft or a paused campaign can be changed (pause it first)');
    // A test send's winner (or a send being fired) holds its split: changing it then would send the rest to the wrong users.
    if (change.results && (await campaigns.hasOpenSplit(campaign.id))) throw new AppError(409, 'results_locked', 'A winner send (or a send being fired) is still open: the control group, variants and winner cannot change until it has gone out (or cancel the campaign)');
    await check(change.message ?? campaign.message, change.audience ?? campaign.audience, now, change.schedule ?? campaign.schedule, change.results ?? campaign.results);
    // A paused campaign's new schedule starts from now: what the old one had due is not made up
    // (its recorded occurrences are cancelled with the change). A draft's starts at its launch.
    const nextAt = change.schedule && campaign.status === 'paused' ? (firstFrom(change.schedule, now, campaign.launchedAt ?? now) ?? null) : undefined;
    if (nextAt === null && change.schedule?.type !== 'event') throw badRequest('The new schedule has no occurrence from now on (its times are in the past, or its rule never matches)', 'schedule_in_past');
    const updated = await campaigns.update(campaign.id, change, campaign.status === 'paused' ? ['paused'] : ['draft'], now, nextAt);
    if (!updated) throw conflict(await load(campaign.id), 'only a draft or a paused campaign can be changed');
    res.json(campaignView(updated));
  });

  router.post('/campaigns/:id/launch', ...jsonBody('1kb'), deps.idempotency('POST /api/v1/campaigns/launch'), async (req, res) => {
    const campaign = await load(String(req.params.id));
    if (campaign.status !== 'draft') throw conflict(campaign, 'only a draft can be launched');
    const now = clock.now();
    await check(campaign.message, campaign.audience, now);
    if (campaign.schedule.type === 'event') {
      // Triggered: running from now on, on the events that come after the launch.
      const running = await campaigns.transition(campaign.id, ['draft'], 'running', now, { nextAt: null, launchedAt: now, triggerAfter: await campaigns.lastEventId() });
      if (!running) throw conflict(await load(campaign.id), 'only a draft can be launched');
      res.json(campaignView(running));
      return;
    }
    const first = firstFrom(campaign.schedule, now, now);
    if (first === undefined) throw badRequest('The schedule has no occurrence from now on (its times are in the past, or its rule never matches)', 'schedule_in_past');
    const launched = await campaigns.transition(campaign.id, ['draft'], 'scheduled', now, { nextAt: first, launchedAt: now });
    if (!launched) throw conflict(await load(campaign.id), 'only a draft can be launched');
    res.json(campaignView(launched));
  });

  router.post('/campaigns/:id/pause', async (req, res) => {
    const campaign = await load(String(req.params.id));
    const paused = await campaigns.transition(campaign.id, ['scheduled', 'running'], 'paused', clock.now());
    if (!paused) throw conflict(await load(campaign.id), 'only a scheduled or running campaign can be paused');
    res.json(campaignView(paused));
  });

  router.post('/campaigns/:id/resume', async (req, res) => {
    const campaign = await load(String(req.params.id));
    // What came due while paused fires now (the latest of it; see docs/campaigns.md), unless its cutoff passed.
    const resumed = await campaigns.transition(
      campaign.id,
      ['paused'],
      campaign.schedule.type === 'event' || (campaign.launchedAt !== null && (await campaigns.hasOccurrences(campaign.id))) ? 'running' : 'scheduled',
      clock.now(),
    );
    if (!resumed) throw conflict(await load(campaign.id), 'only a paused campaign can be resumed');
    res.json(campaignView(resumed));
  });

  router.post('/campaigns/:id/cancel', async (req, res) => {
    const campaign = await load(String(req.params.id));
    const cancelled = await campaigns.transition(campaign.id, ['draft', 'scheduled', 'running', 'paused'], 'cancelled', clock.now(), { nextAt: null });
    if (!cancelled) throw conflict(await load(campaign.id), 'it has ended already');
    await campaigns.cancelPending(campaign.id);
    res.json(campaignView(cancelled));
  });

  router.get('/campaigns/:id/occurrences', async (req, res) => {
    const campaign = await load(String(req.params.id));
    if (campaign.schedule.type === 'event') {
      // A triggered campaign's occurrences are its entries: one per triggering event.
      const entries = await campaigns.triggersOf(campaign.id, parseInput(pageQuery, req.query, 'query'));
      const entryView = async (entry: TriggerEntry) => ({
        id: String(entry.id),
        dueAt: iso(entry.dueAt),
        status: entry.status,
        reason: entry.reason,
        firedAt: isoOrNull(entry.firedAt),
        userId: entry.userId,
        event: { name: entry.event.name, time: iso(entry.eventTime), properties: entry.event.properties },
        notification: await progressOf(entry.notificationId),
      });
      res.json({ items: await Promise.all(entries.items.map(entryView)), nextCursor: entries.nextCursor });
      return;
    }
    const page = await campaigns.occurrences(campaign.id, parseInput(pageQuery, req.query, 'query'));
    const sends = await campaigns.sendsOf(page.items.map((o) => o.id));
    // A send with a control group or variants made one notification per part (ids derived from the send's).
    const split = splitOf(campaign.message, campaign.results);
    const sendView = async (send: OccurrenceSend) => {
      const own = await progressOf(send.notificationId);
      const parts =
        !own && split && send.kind === 'send'
          ? (await Promise.all(split.parts.map(async (part) => ({ name: part.name, control: part.control, notification: await progressOf(partId(send.notificationId, partLabel(part))) })))).filter((p) => p.notification !== null)
          : undefined;
      return {
        dueAt: iso(send.dueAt),
        kind: send.kind,
        ...(send.skipReason ? { skipReason: send.skipReason } : {}),
        zones: send.zones,
        ...(send.othersThan ? { otherZones: true } : {}),
        ...(send.slice ? { slice: { index: send.slice.index, of: send.slice.count } } : {}),
        status: send.status,
        reason: send.reason,
        notification: own,
        ...(parts && parts.length > 0 ? { parts } : {}),
      };
    };
    const view = async (occurrence: Occurrence) => {
      const its = await Promise.all(sends.filter((send) => send.occurrenceId === occurrence.id).map(sendView));
      const counts = { targeted: 0, sent: 0, failed: 0, removed: 0, skipped: 0, heldOut: 0, pending: 0, clicked: 0 };
      const notificationsOf = (send: (typeof its)[number]) => (send.notification ? [send.notification] : 'parts' in send && send.parts ? send.parts.map((p) => p.notification).filter((n) => n !== null) : []);
      for (const send of its) for (const n of notificationsOf(send)) for (const key of Object.keys(counts) as Array<keyof typeof counts>) counts[key] += n.counts[key];
      return {
        id: String(occurrence.id),
        dueAt: iso(occurrence.dueAt),
        status: occurrence.status,
        reason: occurrence.reason,
        firedAt: isoOrNull(occurrence.firedAt),
        counts,
        sends: its,
        // The usual case, one send to everyone: its notification.
        notification: its.length === 1 && its[0].zones === null ? its[0].notification : null,
      };
    };
    res.json({ items: await Promise.all(page.items.map(view)), nextCursor: page.nextCursor });
  });

  // The next occurrences a schedule would have if launched now: what the console lists in words.
  const schedulePreview = z.object({ schedule: scheduleSchema, count: z.number().int().min(1).max(10).default(5) }).strict();
  router.post('/schedules/preview', ...jsonBody('32kb'), async (req, res) => {
    const { schedule, count } = parseInput(schedulePreview, req.body, 'preview');
    const now = clock.now();
    // Every occurrence listed is found in the checking thread first, within its deadline.
    const costly = await ruleCostProblem(schedule, now, count);
    if (costly) throw badRequest(costly, 'costly_rrule');
    const occurrences: string[] = [];
    for (let at = firstFrom(schedule, now, now); at !== undefined && occurrences.length < count; at = nextOccurrence(schedule, at, now)) occurrences.push(iso(at));
    const zone = 'timezone' in schedule ? schedule.timezone : 'UTC';
    res.json({ occurrences, timezone: zone, localTime: 'localTime' in schedule && schedule.localTime === true, triggered: schedule.type === 'event' });
  });

  const reportQuery = z
    .object({
      occurrence: z.string().regex(/^[1-9]\d{0,15}$/, 'occurrence must be the id of one of the campaign\'s occurrences').optional(),
      format: z.enum(['json', 'csv'], { error: 'format must be json or csv' }).optional(),
    })
    .strict();
  router.get('/campaigns/:id/report', async (req, res) => {
    const campaign = await load(String(req.params.id));
    const query = parseInput(reportQuery, req.query, 'query');
    const report = await deps.report(campaign.id, query.occurrence === undefined ? undefined : Number(query.occurrence), { controlGroup: (campaign.results.controlGroupPercent ?? 0) > 0 });
    if (query.format === 'csv') {
      res
        .type('text/csv; charset=utf-8')
        .set('Content-Disposition', `attachment; filename="campaign-${campaign.id}${query.occurrence ? `-occurrence-${query.occurrence}` : ''}.csv"`)
        .send(reportCsv(report));
      return;
    }
    res.json({ ...report, name: campaign.name, status: campaign.status });
  });

  router.post('/campaigns/:id/test', ...jsonBody('64kb'), deps.idempotency('POST /api/v1/campaigns/test'), async (req, res) => {
    const campaign = await load(String(req.params.id));
    const body = parseInput(testSchema, req.body ?? {}, 'test');
    const now = clock.now();
    const users = body.userIds ? [...new Set(body.userIds)] : await campaigns.testUsers(MAX_TEST_USERS);
    if (users.length === 0) throw badRequest('No test profiles: mark profiles with "test": true (PATCH /api/v1/users/{userId}) or give userIds', 'no_test_profiles');
    // A variant's message when one is named (a test send holds nobody back and measures nothing).
    const variants = campaign.results.variants ?? [];
    const index = body.variant === undefined ? -1 : variants.findIndex((v) => v.name.toLowerCase() === body.variant?.toLowerCase());
    if (body.variant !== undefined && index < 0) throw badRequest(`test.variant: the campaign has no variant named ${JSON.stringify(body.variant)}`, 'unknown_variant');
    const message = index >= 0 ? variantMessage(campaign.message, variants[index], index) : campaign.message;
    const input = notificationInput(message, await resolveTarget({ users }, deps.segments, now));
    checkNotification(input, deps.urlFormatString, now, deps.links);
    const created = await deps.notifications.create(input, now, { campaignId: campaign.id, test: true, ...(index >= 0 ? { variant: variants[index].name } : {}) });
    const accepted = { id: created.id, status: 'queued', test: true, users: users.length, ...(index >= 0 ? { variant: variants[index].name } : {}) };
    await queueAccepted(res, deps, created.id, accepted);
    res.status(202).json(accepted);
  });

  return router;
}
