import { Router } from 'express';
import { z } from 'zod';
import type { DeviceRepository, PushSubscription } from '../devices/repository';
import { badRequest, notFound } from '../errors';
import { siteCors } from '../http/cors';
import { perMinuteLimit } from '../http/rate-limit';
import { storedText } from '../http/text';
import { jsonBody } from '../http/json-body';
import { parseInput } from '../http/validate';
import type { Clock } from '../clock';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics/metrics';
import { verifiedUserId, type UserSecrets } from '../safari/user-identity';
import { MAX_ENDPOINT_LENGTH, type EndpointPolicy } from './endpoint';
import { isP256PublicPoint } from './p256';
import { reportedLanguage, reportedTimezone } from '../audience/values';
import { parseUserAgent } from '../audience/user-agent';

export interface WebPushRouteDeps {
  websitePushID: string;
  allowedOrigins: readonly string[];
  vapidPublicKey: string;
  /** WEBPUSH_ENDPOINT_HOSTS: which endpoints may be stored (and later posted to). */
  endpoints: EndpointPolicy;
  userInfoSecret?: string | UserSecrets;
  devices: DeviceRepository;
  metrics: Pick<Metrics, 'subscription'>;
  rateLimitPerMinute: number;
  /** Warns once per page origin that is not in ALLOWED_DOMAINS. */
  logger?: Pick<Logger, 'warn'>;
  clock?: Clock;
}

const base64url = (bytes: number, what: string) =>
  z.string().refine((value) => /^[A-Za-z0-9_-]+={0,2}$/.test(value) && Buffer.from(value, 'base64url').length === bytes, `${what} must be ${bytes} bytes, base64url-encoded`);

const subscriptionSchema = z.object({
  endpoint: storedText().max(MAX_ENDPOINT_LENGTH),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({
    p256dh: base64url(65, 'keys.p256dh').refine(isP256Point, 'keys.p256dh is not a point on P-256'),
    auth: base64url(16, 'keys.auth'),
  }),
});

const subscribeSchema = z.object({
  subscription: subscriptionSchema,
  userId: storedText().min(1).max(255).nullable().optional(),
  signature: storedText().max(128).optional(),
  userToken: storedText().max(4096).optional(),
  // Device facts the SDK reports (Intl's time zone, navigator.language).
  timezone: reportedTimezone.optional(),
  language: reportedLanguage.optional(),
});

const unsubscribeSchema = z.object({ endpoint: storedText().min(1).max(MAX_ENDPOINT_LENGTH) });

function isP256Point(value: string): boolean {
  return isP256PublicPoint(Buffer.from(value, 'base64url'));
}

/** Keys in canonical form (no padding), so one subscription is stored once. */
const canonicalKey = (value: string) => Buffer.from(value, 'base64url').toString('base64url');

/**
 * The Web Push endpoints a site's pages call (public, CORS limited to the site's origins): the
 * VAPID public key, and storing or removing a subscription.
 */
export function webPushRouter(deps: WebPushRouteDeps): Router {
  const router = Router();
  const cors = siteCors(deps.allowedOrigins, ['GET', 'POST', 'DELETE'], deps.logger, deps.clock);
  const limit = perMinuteLimit(deps.rateLimitPerMinute);

  router.options('/webpush/public-key', cors);
  router.get('/webpush/public-key', cors, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json({ publicKey: deps.vapidPublicKey });
  });

  router.options('/subscriptions', cors);
  router.post('/subscriptions', cors, ...limit, ...jsonBody('8kb'), async (req, res) => {
    const body = parseInput(subscribeSchema, req.body, 'subscription');
    // Parsed once: what is stored is the normalised URL the policy approved, nothing else.
    const checked = deps.endpoints.check(body.subscription.endpoint);
    if (!checked.ok) throw badRequest(checked.reason, 'endpoint_not_allowed');
    const { p256dh, auth } = body.subscription.keys;
    const subscription: PushSubscription = { endpoint: checked.target.url, keys: { p256dh: canonicalKey(p256dh), auth: canonicalKey(auth) } };
    const userId = verifiedUserId(body, deps.userInfoSecret);
    const facts = { ...parseUserAgent(req.headers['user-agent']), timezone: body.timezone ?? null, language: body.language ?? null };
    const device = await deps.devices.subscribe({ subscription, websitePushId: deps.websitePushID, userId, now: Date.now(), facts });
    deps.metrics.subscription('subscribe');
    res.status(201).json({ token: device.token, channel: device.channel, userId: device.userId });
  });
  router.delete('/subscriptions', cors, ...limit, ...jsonBody('8kb'), async (req, res) => {
    const { endpoint } = parseInput(unsubscribeSchema, req.body, 'body');
    let canonicalEndpoint: string;
    try {
      canonicalEndpoint = new URL(endpoint).toString();
    } catch {
      throw badRequest('endpoint must be a URL', 'invalid_body');
    }
    if (!(await deps.devices.unsubscribe(canonicalEndpoint, deps.websitePushID))) throw notFound('No subscription with that endpoint');
    deps.metrics.subscription('unsubscribe');
    res.status(204).end();
  });
  return router;
}
