import { Router } from 'express';
import { z } from 'zod';
import type { Clock } from '../clock';
import { parseDeviceToken } from '../devices/device-token';
import { AppError, notFound } from '../errors';
import { keptClientIp, type ClientIpPolicy } from '../http/client-ip';
import { siteCors } from '../http/cors';
import { jsonBody } from '../http/json-body';
import { perMinuteLimit } from '../http/rate-limit';
import { storedText } from '../http/text';
import { parseInput } from '../http/validate';
import type { Logger } from '../logger';
import { verifiedUserId, type UserSecrets } from '../safari/user-identity';
import type { AudienceRepository } from './repository';
import { checkEventTime, eventName, eventTime } from './routes';
import { parseUserAgent } from './user-agent';
import { propertiesSchema, reportedLanguage, reportedTimezone } from './values';

/** Events one page call may carry: a page tracks as things happen, not in bulk. */
export const MAX_PAGE_EVENTS = 20;

const pageSchema = z
  .object({
    token: storedText().max(200),
    userId: storedText().min(1).max(255).optional(),
    signature: storedText().max(128).optional(),
    userToken: storedText().max(4096).optional(),
    events: z
      .array(z.object({ name: eventName, time: eventTime.optional(), properties: propertiesSchema.optional() }).strict())
      .max(MAX_PAGE_EVENTS, `at most ${MAX_PAGE_EVENTS} events per call`)
      .default([]),
    visit: z.boolean().optional(),
    timezone: reportedTimezone.optional(),
    language: reportedLanguage.optional(),
  })
  .strict();

/**
 * The endpoint behind SafariPush.identify(), track() and the daily visit: a page reports for the
 * device it is on (its token), public like subscriptions (CORS to ALLOWED_DOMAINS, rate limited).
 * A user id counts under the same rules as a subscription's (signed when USER_INFO_SECRET is set);
 * without one, events belong to the device (and to the user the device already has).
 */
export function sdkEventsRouter(deps: {
  allowedOrigins: readonly string[];
  userInfoSecret?: string | UserSecrets;
  audience: AudienceRepository;
  clock: Clock;
  logger?: Pick<Logger, 'warn'>;
  rateLimitPerMinute: number;
  eventRetentionDays: number;
  clientIp: ClientIpPolicy;
}): Router {
  const router = Router();
  const cors = siteCors(deps.allowedOrigins, ['POST'], deps.logger, deps.clock);
  router.options('/sdk/events', cors);
  router.post('/sdk/events', cors, ...perMinuteLimit(deps.rateLimitPerMinute), ...jsonBody('32kb'), async (req, res) => {
    const body = parseInput(pageSchema, req.body, 'events');
    const now = deps.clock.now();
    body.events.forEach((event, i) => event.time !== undefined && checkEventTime(event.time, now, deps.eventRetentionDays, `events[${i}]`));
    const token = parseDeviceToken(body.token);
    const claimed = body.userId !== undefined || body.userToken !== undefined;
    const userId = claimed ? verifiedUserId(body, deps.userInfoSecret) : null;
    const [device] = [...(await deps.audience.devicesByToken([token])).values()];
    if (!device) throw notFound('No device has that token: subscribe first (SafariPush.init)', 'unknown_device');
    const clientIp = keptClientIp(req.ip, deps.clientIp);
    const result = await deps.audience.recordFromPage({
      deviceId: device.id,
      userId,
      facts: { ...parseUserAgent(req.headers['user-agent']), timezone: body.timezone ?? null, language: body.language ?? null },
      visitAt: body.visit ? now : null,
      events: body.events.map((event) => ({ name: event.name, time: event.time ?? now, properties: event.properties ?? null, clientIp })),
      now,
    });
    if (result.outcome === 'unknown') throw notFound('No device has that token: subscribe first (SafariPush.init)', 'unknown_device');
    if (result.outcome === 'safari') throw new AppError(409, 'safari_device_anonymous', 'A legacy Safari device gets its user from its push package: call SafariPush.init({userId}) so that Safari asks for a package of that user');
    if (result.outcome !== 'recorded') throw new AppError(409, 'device_has_another_user', 'This device belongs to another user: subscribe again with the new user id (SafariPush.init) to move it');
    res.status(202).json({ accepted: result.accepted });
  });
  return router;
}
