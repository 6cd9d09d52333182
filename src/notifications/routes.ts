import { Router, type RequestHandler, type Response } from 'express';
import { idempotencyOf } from '../idempotency/middleware';
import { z } from 'zod';
import { parseDeviceToken } from '../devices/device-token';
import { CHANNELS, type Channel } from '../devices/repository';
import { badRequest, notFound } from '../errors';
import { iso, pageQuery } from '../http/paging';
import { storedText, textProblem } from '../http/text';
import { jsonBody } from '../http/json-body';
import { parseInput } from '../http/validate';
import { payloadProblems } from './payload';
import type { SendQueue } from './queue';
import type { NotificationInput, NotificationRepository, StoredNotification, Target, WebPushOptions } from './repository';
import type { Clock } from '../clock';
import { parseFilter } from '../audience/filter';
import type { AudienceRepository } from '../audience/repository';
import { checkTemplates, isPersonalized, personalizer, type PersonalFields, type Recipient } from './personalize';
import { buildSafariPayload, MAX_PAYLOAD_BYTES } from './payload';
import { buildWebPushPayload, MAX_WEB_PUSH_PAYLOAD_BYTES } from '../webpush/payload';
import { buildTargetUrl } from '../clicks/target-url';
import type { SegmentRepository } from '../audience/segments';
import { goalSchema } from '../results/goal';

const MAX_TARGETS = 10_000;
/** The largest 32-bit UNIX time: APNs answers BadExpirationDate beyond it. */
const MAX_EXPIRATION = 4_294_967_295;

const usersTarget = z.object({ users: z.array(storedText().min(1).max(255)).min(1, 'users must not be empty').max(MAX_TARGETS) }).strict();
const allTarget = z.object({ all: z.literal(true) }).strict();
const segmentTarget = z.object({ segment: z.uuid({ error: 'segment must be the id of a saved segment' }) }).strict();
const filterTarget = z.object({ filter: z.unknown() }).strict();
const targetSchema = z.union([
  z.object({ tokens: z.array(storedText().max(200)).min(1, 'tokens must not be empty').max(MAX_TARGETS) }).strict(),
  usersTarget,
  allTarget,
  segmentTarget,
  filterTarget,
], { error: 'to must be {"tokens": [...]}, {"users": [...]}, {"all": true}, {"segment": "<id>"} or {"filter": {...}}' });
/** Who a campaign reaches: users, everyone, a saved segment or a filter (no device tokens). */
export const audienceSchema = z.union([usersTarget, allTarget, segmentTarget, filterTarget], {
  error: 'audience must be {"users": [...]}, {"all": true}, {"segment": "<id>"} or {"filter": {...}}',
});
export type Audience = z.infer<typeof audienceSchema>;

/** An absolute URL of the notification (https only, or http too), as well-formed text of at most 2048 characters. */
const webUrl = (field: string, httpsOnly: boolean) =>
  z
    .url({ protocol: httpsOnly ? /^https$/ : /^https?$/, error: `${field} must be ${httpsOnly ? 'an https://' : 'an absolute http:// or https://'} URL` })
    .max(2048, `${field} must be at most 2048 characters`)
    .refine((value) => textProblem(value) === undefined, `${field} must be well-formed Unicode (no NUL, no lone UTF-16 surrogates)`);
const httpUrl = (field: string) => webUrl(field, false);
const httpsUrl = (field: string) => webUrl(field, true);
/** The most a notification's `data` may take as JSON. */
export const MAX_DATA_BYTES = 1024;
/** A lone surrogate or NUL, as JSON.stringify escapes them: text the databases would not keep as sent. */
const ESCAPED_UNSTORABLE = /(?<!\\)\\u(?:d[89a-f][0-9a-f]{2}|0000)/i;
/** How deep `data` may nest (1 KB of JSON holds no useful structure deeper than this). */
const MAX_DATA_DEPTH = 16;
function depthOf(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit <= 0) return 1;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, limit - 1));
  return deepest + 1;
}

/** The latest time a JavaScript Date holds (ms). */
const MAX_TIME_MS = 8.64e15;

const actionSchema = z
  .object({
    title: storedText().min(1).max(128),
    url: httpUrl('actions[].url'),
    icon: httpsUrl('actions[].icon').optional(),
  })
  .strict();

export const sendFields = z
  .object({
    title: storedText().min(1).max(1024),
    body: storedText().min(1).max(4096),
    action: storedText().min(1).max(255).optional(),
    urlArgs: z.array(storedText().max(1024)).max(32).default([]),
    to: targetSchema,
    expiration: z
      .number({ error: 'expiration must be a UNIX time in seconds (0: deliver once or drop)' })
      .int('expiration must be whole seconds since 1970')
      .min(0)
      .refine((value) => value < 1e11, 'expiration looks like milliseconds: APNs and push services take seconds since 1970 (divide by 1000)')
      .refine((value) => value <= MAX_EXPIRATION, `expiration must be at most ${MAX_EXPIRATION} (seconds since 1970)`)
      .optional(),
    priority: z.union([z.literal(5), z.literal(10)], { error: 'priority must be 10 (send now) or 5 (power-saving)' }).default(10),
    // As APNs takes apns-collapse-id: at most 64 bytes, and as an HTTP/2 header value only visible ASCII.
    collapseId: z
      .string()
      .regex(/^[\x20-\x7e]{1,64}$/, 'collapseId must be 1 to 64 visible ASCII characters (APNs apns-collapse-id)')
      .optional(),
    channels: z.array(z.enum(CHANNELS as [Channel, ...Channel[]])).min(1).optional(),
    icon: httpsUrl('icon').optional(),
    // Web Push only (Safari's legacy channel shows what its package defines).
    url: httpUrl('url').optional(),
    image: httpsUrl('image').optional(),
    badge: httpsUrl('badge').optional(),
    requireInteraction: z.boolean().optional(),
    silent: z.boolean().optional(),
    renotify: z.boolean().optional(),
    timestamp: z
      .union([z.number().int().min(0).max(MAX_TIME_MS), z.iso.datetime({ offset: true, error: 'timestamp must be milliseconds since 1970 or an ISO 8601 date-time' })], { error: 'timestamp must be milliseconds since 1970 or an ISO 8601 date-time' })
      .transform((value) => (typeof value === 'number' ? value : Date.parse(value)))
      .refine((value) => value >= 0, 'timestamp must not be before 1970')
      .optional(),
    lang: z
      .string()
      .regex(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,6}$/, 'lang must be a BCP 47 language tag such as "en" or "pt-BR"')
      .optional(),
    dir: z.enum(['auto', 'ltr', 'rtl']).optional(),
    data: z
      .record(z.string(), z.unknown(), { error: 'data must be a JSON object' })
      .superRefine((value, ctx) => {
        // Measured before stringifying: JSON.stringify throws (stack) on very deep nesting.
        if (depthOf(value, MAX_DATA_DEPTH) > MAX_DATA_DEPTH) {
          ctx.addIssue({ code: 'custom', message: `data nests deeper than ${MAX_DATA_DEPTH} levels` });
          return;
        }
        const json = JSON.stringify(value);
        if (Buffer.byteLength(json) > MAX_DATA_BYTES) ctx.addIssue({ code: 'custom', message: `data is ${Buffer.byteLength(json)} bytes as JSON, at most ${MAX_DATA_BYTES}` });
        else if (ESCAPED_UNSTORABLE.test(json)) ctx.addIssue({ code: 'custom', message: 'data must not contain NUL characters or lone UTF-16 surrogates' });
      })
      .optional(),
    actions: z.array(actionSchema).max(2, 'actions takes at most 2 buttons (what browsers show)').optional(),
    appBadge: z.number().int().min(0).max(2_147_483_647).optional(),
    respectCaps: z.boolean({ error: 'respectCaps must be true or false' }).optional(),
    goal: goalSchema.optional(),
  })
  .strict();
const renotifyNeedsTag = (value: { renotify?: boolean; collapseId?: string }) => !value.renotify || value.collapseId !== undefined;
const renotifyProblem = { message: 'renotify needs collapseId (the tag of the notification it replaces)', path: ['renotify'] };
const sendSchema = sendFields.refine(renotifyNeedsTag, renotifyProblem);
/** What a campaign sends: the send API's fields without `to`. */
export const messageSchema = sendFields.omit({ to: true, respectCaps: true, goal: true }).refine(renotifyNeedsTag, renotifyProblem);
export type Message = z.infer<typeof messageSchema>;
/** A preview: the notification as it would be sent, for one user (`to` is not needed). */
const previewSchema = sendFields.omit({ to: true, respectCaps: true, goal: true }).extend({ userId: storedText().min(1).max(255), to: targetSchema.optional() }).refine(renotifyNeedsTag, renotifyProblem);

/** The fields of a send that may be Liquid templates. */
const personalFields = (input: NotificationInput): PersonalFields => ({ title: input.title, body: input.body, action: input.action, url: input.webPush?.url, urlArgs: input.urlArgs });

/** The Web Push fields of a send, when it has any. */
function webPushOptions(body: Omit<Message, 'respectCaps'>): WebPushOptions | undefined {
  const { url, image, badge, requireInteraction, silent, renotify, timestamp, lang, dir, data, actions, appBadge } = body;
  const options: WebPushOptions = { url, image, badge, requireInteraction, silent, renotify, timestamp, lang, dir, data, actions, appBadge };
  for (const key of Object.keys(options) as Array<keyof WebPushOptions>) if (options[key] === undefined) delete options[key];
  return Object.keys(options).length > 0 ? options : undefined;
}

/**
 * The target as stored: tokens normalised, and a segment or filter fixed now (a saved segment's
 * filter is copied, so editing the segment later does not change a send already made).
 */
export async function resolveTarget(to: z.infer<typeof targetSchema>, segments: SegmentRepository, now: number): Promise<Target> {
  if ('tokens' in to) return { tokens: [...new Set(to.tokens.map(parseDeviceToken))] };
  if ('segment' in to) {
    const segment = await segments.get(to.segment);
    if (!segment) throw badRequest('to.segment: no saved segment has that id', 'unknown_segment');
    return { segment: segment.id, filter: segment.filter, at: now };
  }
  if ('filter' in to) return { filter: parseFilter(to.filter, 'to.filter'), at: now };
  return to;
}

/** A message and a resolved target as the repository stores them. */
export function notificationInput(message: Message, target: Target): NotificationInput {
  return {
    title: message.title,
    body: message.body,
    action: message.action,
    urlArgs: message.urlArgs,
    target: { ...target, ...(message.channels ? { channels: [...new Set(message.channels)] } : {}) },
    expiration: message.expiration,
    priority: message.priority,
    collapseId: message.collapseId,
    icon: message.icon,
    webPush: webPushOptions(message),
  };
}

/**
 * Queues a notification just created, recording `accepted` as the answer its Idempotency-Key
 * replays: from here a retry gets this notification, never a second one. When it cannot be queued
 * (BullMQ's Redis away) it is undone and the key given back, so neither a replay nor the next start
 * sends a notification the caller was told failed.
 */
export async function queueAccepted(res: Response, deps: { notifications: NotificationRepository; queue: SendQueue }, id: string, accepted: object): Promise<void> {
  const idempotency = idempotencyOf(res);
  await idempotency?.record(202, accepted);
  try {
    await deps.queue.enqueue(id);
  } catch (error) {
    if (await deps.notifications.discard(id)) await idempotency?.forget();
    throw error;
  }
}

/** 400 unless the notification can be sent: payload sizes and links, and its templates parse. */
export function checkNotification(input: NotificationInput, urlFormatString: string, now: number, links: { clickTracking: boolean; serviceUrl: string }): void {
  const problems = payloadProblems(input, urlFormatString, Math.floor(now / 1000), links);
  if (problems.length > 0) throw badRequest(problems.join('; '), 'invalid_notification');
  if (isPersonalized(input)) checkTemplates(personalFields(input));
}

const deliveriesQuery = pageQuery.extend({ outcome: z.enum(['pending', 'sent', 'failed', 'removed', 'skipped', 'held_out']).optional() });

const waitQuery = z.object({ wait: z.enum(['true', 'false']).optional() });

/** The API's view of a notification: what was asked, where it stands, and the counts. */
async function summary(notifications: NotificationRepository, notification: StoredNotification) {
  const counts = await notifications.counts(notification);
  return {
    id: notification.id,
    status: notification.status,
    ...(notification.campaignId !== null ? { campaignId: notification.campaignId } : {}),
    ...(notification.test ? { test: true } : {}),
    title: notification.title,
    body: notification.body,
    to: notification.target,
    counts: {
      targeted: notification.targeted,
      sent: counts.sent,
      failed: counts.failed,
      removed: counts.removed,
      skipped: counts.skipped,
      pending: counts.pending,
      ...(notification.control || counts.held_out > 0 ? { heldOut: counts.held_out } : {}),
      shown: counts.shown,
      clicked: counts.clicked,
      ...(notification.webPush?.actions ? { clickedActions: counts.clickedActions } : {}),
      ...(notification.goal ? { converted: counts.converted, revenue: counts.revenue } : {}),
    },
    ...(notification.goal ? { goal: notification.goal, usersReached: notification.usersReached } : {}),
    ...(notification.variant !== null ? { variant: notification.variant } : {}),
    ...(notification.control ? { control: true } : {}),
    error: notification.error,
    createdAt: iso(notification.createdAt),
    startedAt: notification.startedAt === null ? null : iso(notification.startedAt),
    finishedAt: notification.finishedAt === null ? null : iso(notification.finishedAt),
  };
}

/** The send API for backend services; mounted behind the API key check. */
export function notificationRouter(deps: {
  notifications: NotificationRepository;
  /** Idempotency-Key handling for the create (idempotency/middleware.ts). */
  idempotency: RequestHandler;
  queue: SendQueue;
  urlFormatString: string;
  links: { clickTracking: boolean; serviceUrl: string };
  segments: SegmentRepository;
  audience: AudienceRepository;
  clock: Clock;
}): Router {
  const { notifications, queue } = deps;
  const router = Router();
  const load = async (id: string) => {
    const notification = z.uuid().safeParse(id).success ? await notifications.get(id) : undefined;
    if (!notification) throw notFound('No notification with that id');
    return notification;
  };

  router.post('/notifications', ...jsonBody('512kb'), deps.idempotency, async (req, res) => {
    const { wait } = parseInput(waitQuery, req.query, 'query');
    const body = parseInput(sendSchema, req.body, 'notification');
    const now = deps.clock.now();
    const input = { ...notificationInput(body, await resolveTarget(body.to, deps.segments, now)), ...(body.respectCaps ? { respectCaps: true } : {}), ...(body.goal ? { goal: body.goal } : {}) };
    checkNotification(input, deps.urlFormatString, now, deps.links);
    const created = await notifications.create(input, now);
    const accepted = { id: created.id, status: 'queued' };
    await queueAccepted(res, deps, created.id, accepted);
    if (wait !== 'true') {
      res.status(202).json(accepted);
      return;
    }
    // Stop waiting (not sending) when the client hangs up.
    const hungUp = new AbortController();
    res.once('close', () => hungUp.abort());
    await queue.settled(created.id, hungUp.signal);
    if (hungUp.signal.aborted) return;
    res.status(200).json(await summary(notifications, await load(created.id)));
  });

  router.post('/notifications/preview', ...jsonBody('512kb'), async (req, res) => {
    const body = parseInput(previewSchema, req.body, 'preview');
    const webPush = webPushOptions(body);
    const input = { title: body.title, body: body.body, action: body.action, urlArgs: body.urlArgs, icon: body.icon, collapseId: body.collapseId, webPush };
    const fields = { title: input.title, body: input.body, action: input.action, url: webPush?.url, urlArgs: input.urlArgs };
    checkTemplates(fields);
    const [profile, devices] = await Promise.all([deps.audience.get(body.userId), deps.audience.devicesOf(body.userId)]);
    const render = personalizer(fields);
    const channels: Record<string, unknown> = {};
    for (const channel of ['safari', 'webpush'] as const) {
      // The user's newest device of the channel lends its facts (browser, language...), if any.
      const device = devices.find((d) => d.channel === channel);
      const recipient: Recipient = {
        userId: body.userId,
        // A copy: the render writes id, time zone and language into the object it is given.
        attributes: { ...profile?.attributes },
        timezone: profile?.timezone ?? null,
        language: profile?.language ?? null,
        device: { channel, browser: device?.browser ?? null, os: device?.os ?? null, language: device?.language ?? null, timezone: device?.timezone ?? null },
      };
      const rendered = render.render(recipient);
      if (!rendered.ok) {
        channels[channel] = { error: rendered.reason };
        continue;
      }
      const f = rendered.fields;
      const payload =
        channel === 'safari'
          ? JSON.stringify(buildSafariPayload(f))
          : buildWebPushPayload({ ...input, title: f.title, body: f.body }, { targetUrl: f.url ?? buildTargetUrl(deps.urlFormatString, f.urlArgs) ?? deps.links.serviceUrl, serviceUrl: deps.links.serviceUrl });
      const bytes = Buffer.byteLength(payload);
      const limit = channel === 'safari' ? MAX_PAYLOAD_BYTES : MAX_WEB_PUSH_PAYLOAD_BYTES;
      channels[channel] = { payload: JSON.parse(payload) as unknown, bytes, ...(bytes > limit ? { error: `PayloadTooLarge: ${bytes} bytes, at most ${limit}` } : {}), devices: devices.filter((d) => d.channel === channel).length };
    }
    // What a send of these fields would be refused for (url-args against urlFormatString, sizes with click links): the same check as the send API's.
    const problems = payloadProblems({ ...input, target: { all: true }, priority: 10, ...(body.expiration !== undefined ? { expiration: body.expiration } : {}) }, deps.urlFormatString, Math.floor(deps.clock.now() / 1000), deps.links);
    res.json({ userId: body.userId, profile: profile !== undefined, channels, problems });
  });

  router.get('/notifications', async (req, res) => {
    const page = await notifications.list(parseInput(pageQuery, req.query, 'query'));
    res.json({ items: await Promise.all(page.items.map((n) => summary(notifications, n))), nextCursor: page.nextCursor });
  });

  router.get('/notifications/:id', async (req, res) => {
    res.json(await summary(notifications, await load(req.params.id)));
  });

  router.get('/notifications/:id/deliveries', async (req, res) => {
    const notification = await load(req.params.id);
    const page = await notifications.deliveries(notification.id, parseInput(deliveriesQuery, req.query, 'query'));
    res.json({
      items: page.items.map((d) => ({
        token: d.token,
        channel: d.channel,
        outcome: d.outcome,
        status: d.status,
        reason: d.reason,
        attempts: d.attempts,
        updatedAt: iso(d.updatedAt),
        clickedAt: d.clickedAt === null ? null : iso(d.clickedAt),
        clickedAction: d.clickedAction,
        shownAt: d.shownAt === null ? null : iso(d.shownAt),
      })),
      nextCursor: page.nextCursor,
    });
  });

  return router;
}
