import { quickEvents } from './quick-events';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Clock } from '../clock';
import { parseDeviceToken } from '../devices/device-token';
import { badRequest, notFound } from '../errors';
import { iso, pageQuery } from '../http/paging';
import { jsonBody } from '../http/json-body';
import { storedText } from '../http/text';
import { parseInput } from '../http/validate';
import { DEVICE_FACTS, parseFilter } from './filter';
import type { AudienceRepository, EventInput, Profile, ProfileDevice, StoredEvent } from './repository';
import type { SegmentRepository } from './segments';
import { attributesSchema, languageSchema, propertiesSchema, timezoneSchema, userIdSchema } from './values';

export const MAX_BATCH_USERS = 1000;
export const MAX_BATCH_EVENTS = 1000;
const DAY_MS = 86_400_000;
/** How far ahead of the service's clock an event's time may be (clients' clocks drift). */
export const MAX_EVENT_SKEW_MS = DAY_MS;

const profileFields = (nullableAttributes: boolean) => ({
  attributes: attributesSchema(nullableAttributes).optional(),
  timezone: timezoneSchema.nullable().optional(),
  language: languageSchema.nullable().optional(),
  test: z.boolean().optional(),
});
const putSchema = z.object({ ...profileFields(false), attributes: attributesSchema(false) }).strict();
const patchSchema = z.object(profileFields(true)).strict();
const batchSchema = z
  .object({
    users: z
      .array(z.object({ userId: userIdSchema, ...profileFields(true) }).strict())
      .min(1, 'users must not be empty')
      .max(MAX_BATCH_USERS, `at most ${MAX_BATCH_USERS} users per call`),
  })
  .strict();

/** An event time: milliseconds since 1970 or an ISO 8601 date-time. */
export const eventTime = z
  .union([z.number().int().min(0).max(8.64e15), z.iso.datetime({ offset: true })], { error: 'time must be milliseconds since 1970 or an ISO 8601 date-time' })
  .transform((value) => (typeof value === 'number' ? value : Date.parse(value)));

export const eventName = storedText().min(1, 'name must not be empty').max(64, 'name is at most 64 characters');

const eventSchema = z
  .object({
    name: eventName,
    userId: userIdSchema.optional(),
    token: storedText().max(200).optional(),
    time: eventTime.optional(),
    properties: propertiesSchema.optional(),
  })
  .strict()
  .refine((event) => (event.userId === undefined) !== (event.token === undefined), 'an event names its user (userId) or its device (token), one of the two');
export const eventsSchema = z
  .object({ events: z.array(eventSchema).min(1, 'events must not be empty').max(MAX_BATCH_EVENTS, `at most ${MAX_BATCH_EVENTS} events per call`) })
  .strict();

const segmentSchema = z.object({ name: storedText().min(1).max(255), filter: z.unknown() }).strict();
const estimateSchema = z.union([z.object({ filter: z.unknown() }).strict(), z.object({ segmentId: z.uuid() }).strict()], {
  error: 'send {"filter": {...}} or {"segmentId": "<id>"}',
});

/** The API's view of a device of a profile. */
export const deviceView = (device: ProfileDevice) => ({
  token: device.token,
  channel: device.channel,
  browser: device.browser,
  os: device.os,
  timezone: device.timezone,
  language: device.language,
  subscribedAt: iso(device.subscribedAt),
  lastSeenAt: device.lastSeenAt === null ? null : iso(device.lastSeenAt),
});

export const profileView = (profile: Profile) => ({
  userId: profile.userId,
  attributes: profile.attributes,
  timezone: profile.timezone,
  language: profile.language,
  test: profile.test,
  createdAt: iso(profile.createdAt),
  updatedAt: iso(profile.updatedAt),
  lastSeenAt: profile.lastSeenAt === null ? null : iso(profile.lastSeenAt),
});

export const eventView = (event: StoredEvent) => ({
  id: String(event.id),
  name: event.name,
  time: iso(event.time),
  properties: event.properties ?? {},
  ...(event.userId === null ? {} : { userId: event.userId }),
  ...(event.clientIp === null ? {} : { clientIp: event.clientIp }),
});

/** A user id from the path, checked like one from a body. */
function pathUserId(raw: string): string {
  const parsed = userIdSchema.safeParse(raw);
  if (!parsed.success) throw badRequest('userId in the path must be 1 to 255 characters of well-formed text', 'invalid_user_id');
  return parsed.data;
}

/**
 * An event time the service will keep: not in the future past the clock skew a browser may have,
 * and not older than retention (it would be pruned at once, and segments would not see it).
 */
export function checkEventTime(time: number, now: number, retentionDays: number, path: string): void {
  if (time > now + MAX_EVENT_SKEW_MS) throw badRequest(`${path}: time is more than a day in the future`, 'invalid_event_time');
  if (time < now - retentionDays * DAY_MS) throw badRequest(`${path}: time is older than EVENT_RETENTION_DAYS (${retentionDays} days)`, 'invalid_event_time');
}

/** Profiles, events and segments: the audience API for backend services (behind the API keys). */
export function audienceRouter(deps: {
  audience: AudienceRepository;
  segments: SegmentRepository;
  clock: Clock;
  eventRetentionDays: number;
  /** Idempotency-Key handling per create route (idempotency/middleware.ts). */
  idempotency: (scope: string) => RequestHandler;
}): Router {
  const { audience, segments, clock } = deps;
  const router = Router();

  router.put('/users/:userId', ...jsonBody('256kb'), async (req, res) => {
    const userId = pathUserId(String(req.params.userId));
    const body = parseInput(putSchema, req.body, 'profile');
    const profile = await audience.put(userId, body, clock.now());
    res.json({ ...profileView(profile), devices: (await audience.devicesOf(userId)).map(deviceView) });
  });

  router.patch('/users/:userId', ...jsonBody('256kb'), async (req, res) => {
    const userId = pathUserId(String(req.params.userId));
    const body = parseInput(patchSchema, req.body, 'profile');
    const profile = await audience.merge(userId, body, clock.now());
    res.json({ ...profileView(profile), devices: (await audience.devicesOf(userId)).map(deviceView) });
  });

  router.get('/users/:userId', async (req, res) => {
    const userId = pathUserId(String(req.params.userId));
    const [profile, devices] = await Promise.all([audience.get(userId), audience.devicesOf(userId)]);
    if (!profile && devices.length === 0) throw notFound('No profile and no device for that user');
    // A user known only by their devices has an empty profile, as old as their first device.
    const shown: Profile = profile ?? {
      userId,
      attributes: {},
      timezone: null,
      language: null,
      test: false,
      createdAt: Math.min(...devices.map((d) => d.subscribedAt)),
      updatedAt: Math.min(...devices.map((d) => d.subscribedAt)),
      lastSeenAt: devices.reduce<number | null>((last, d) => (d.lastSeenAt !== null && (last === null || d.lastSeenAt > last) ? d.lastSeenAt : last), null),
    };
    res.json({ ...profileView(shown), devices: devices.map(deviceView) });
  });

  router.delete('/users/:userId', async (req, res) => {
    // Erasure is idempotent: 204 whether or not anything was held.
    await audience.erase(pathUserId(String(req.params.userId)));
    res.status(204).end();
  });

  router.get('/users/:userId/events', async (req, res) => {
    const userId = pathUserId(String(req.params.userId));
    const page = await audience.events(userId, parseInput(pageQuery, req.query, 'query'));
    res.json({ items: page.items.map(eventView), nextCursor: page.nextCursor });
  });

  router.get('/users/:userId/export', async (req, res) => {
    const userId = pathUserId(String(req.params.userId));
    const held = await audience.exportUser(userId);
    if (!held.profile && held.devices.length === 0 && held.events.length === 0) throw notFound('Nothing is held about that user');
    res.set('Content-Disposition', `attachment; filename="user-export.json"`).json({
      userId,
      exportedAt: iso(clock.now()),
      profile: held.profile ? profileView(held.profile) : null,
      devices: held.devices.map((d) => ({ ...deviceView(d), ...(d.endpoint ? { endpoint: d.endpoint } : {}) })),
      events: held.events.map(eventView),
      notifications: held.notifications.map((n) => ({
        id: n.notificationId,
        title: n.title,
        body: n.body,
        createdAt: iso(n.createdAt),
        channel: n.channel,
        outcome: n.outcome,
        status: n.status,
        reason: n.reason,
        updatedAt: iso(n.updatedAt),
        clickedAt: n.clickedAt === null ? null : iso(n.clickedAt),
        clickedAction: n.clickedAction,
      })),
      conversions: held.conversions.map((c) => ({ notificationId: c.notificationId, eventId: String(c.eventId), at: iso(c.at), channel: c.channel, revenue: c.revenue })),
    });
  });

  router.post('/users/batch', ...jsonBody('8mb'), deps.idempotency('POST /api/v1/users/batch'), async (req, res) => {
    const { users } = parseInput(batchSchema, req.body, 'batch');
    const seen = new Set<string>();
    for (const [i, user] of users.entries()) {
      if (seen.has(user.userId)) throw badRequest(`users[${i}].userId: ${JSON.stringify(user.userId.slice(0, 80))} appears twice in the batch`, 'duplicate_user');
      seen.add(user.userId);
    }
    res.json({ stored: await audience.mergeMany(users, clock.now()) });
  });

  router.post('/events', ...jsonBody('4mb'), deps.idempotency('POST /api/v1/events'), async (req, res) => {
    // The usual body is checked by hand (quick-events.ts); anything else by the schema, which words the 400.
    const events = quickEvents(req.body, MAX_BATCH_EVENTS) ?? parseInput(eventsSchema, req.body, 'events').events;
    const now = clock.now();
    events.forEach((event, i) => event.time !== undefined && checkEventTime(event.time, now, deps.eventRetentionDays, `events[${i}]`));
    // Each event's device token in stored form (lower case), checked once.
    const tokenOf = events.map((event, i) => {
      if (event.token === undefined) return undefined;
      try {
        return parseDeviceToken(event.token);
      } catch {
        throw badRequest(`events[${i}].token is not a device token (64 hex characters)`, 'invalid_token');
      }
    });
    const tokens = tokenOf.filter((token): token is string => token !== undefined);
    const devices = tokens.length > 0 ? await audience.devicesByToken(tokens) : new Map<string, { id: number; userId: string | null }>();
    const rows: EventInput[] = [];
    let unknownTokens = 0;
    for (const [i, event] of events.entries()) {
      // An event of a device belongs to its user too, when the device has one.
      const token = tokenOf[i];
      const device = token === undefined ? undefined : devices.get(token);
      if (token !== undefined && !device) {
        unknownTokens += 1;
        continue;
      }
      rows.push({ name: event.name, userId: event.userId ?? device?.userId ?? null, deviceId: device?.id ?? null, time: event.time ?? now, properties: event.properties ?? null, clientIp: null });
    }
    const accepted = rows.length > 0 ? await audience.addEvents(rows, now) : 0;
    res.status(202).json({ accepted, ...(unknownTokens > 0 ? { unknownTokens } : {}) });
  });

  const segmentView = (segment: { id: string; name: string; filter: unknown; createdAt: number; updatedAt: number }) => ({
    id: segment.id,
    name: segment.name,
    filter: segment.filter,
    createdAt: iso(segment.createdAt),
    updatedAt: iso(segment.updatedAt),
  });
  const loadSegment = async (id: string) => {
    const segment = z.uuid().safeParse(id).success ? await segments.get(id) : undefined;
    if (!segment) throw notFound('No segment with that id');
    return segment;
  };

  // For filter builders and template editors (the console's studio): names, not values.
  router.get('/audience/fields', async (_req, res) => {
    const found = await audience.fields(1000, 200);
    res.json({ ...found, deviceFacts: DEVICE_FACTS });
  });

  router.post('/segments/estimate', ...jsonBody('256kb'), async (req, res) => {
    const body = parseInput(estimateSchema, req.body, 'estimate');
    const filter = 'segmentId' in body ? (await loadSegment(body.segmentId)).filter : parseFilter(body.filter);
    res.json(await segments.estimate(filter, clock.now()));
  });
  router.post('/segments', ...jsonBody('256kb'), deps.idempotency('POST /api/v1/segments'), async (req, res) => {
    const body = parseInput(segmentSchema, req.body, 'segment');
    const segment = await segments.create({ name: body.name, filter: parseFilter(body.filter) }, clock.now());
    res.status(201).json(segmentView(segment));
  });
  router.get('/segments', async (req, res) => {
    const page = await segments.list(parseInput(pageQuery, req.query, 'query'));
    res.json({ items: page.items.map(segmentView), nextCursor: page.nextCursor });
  });
  router.get('/segments/:id', async (req, res) => {
    res.json(segmentView(await loadSegment(String(req.params.id))));
  });
  router.put('/segments/:id', ...jsonBody('256kb'), async (req, res) => {
    const body = parseInput(segmentSchema, req.body, 'segment');
    const filter = parseFilter(body.filter);
    await loadSegment(String(req.params.id));
    const updated = await segments.update(String(req.params.id), { name: body.name, filter }, clock.now());
    if (!updated) throw notFound('No segment with that id');
    res.json(segmentView(updated));
  });
  router.delete('/segments/:id', async (req, res) => {
    const segment = await loadSegment(String(req.params.id));
    await segments.remove(segment.id);
    res.status(204).end();
  });

  return router;
}
