import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import { audienceRouter } from './audience/routes';
import { sdkEventsRouter } from './audience/sdk-routes';
import helmet from 'helmet';
import type { AppContext } from './context';
import { deviceAdminRouter } from './devices/admin-routes';
import { operationsRouter } from './health/routes';
import { requireApiKey } from './http/api-auth';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { idempotent } from './idempotency/middleware';
import { openApiDocument } from './http/openapi';
import { requestLog } from './http/request-log';
import { logAdminRouter } from './logs/admin-routes';
import { notificationRouter } from './notifications/routes';
import { adminHealthRouter, adminPageRouter } from './admin/routes';
import { studioRouter } from './admin/studio';
import { clickRouter } from './clicks/routes';
import { campaignRouter } from './campaigns/routes';
import { campaignReport } from './results/report';
import { safariRouter } from './safari/routes';
import { sdkRouter } from './sdk/routes';
import { webPushRouter } from './webpush/routes';

/**
 * Helmet's headers, taken once: helmet sets the same headers on every answer (this service's
 * policy does not depend on the request), so they are computed at start and then set in one loop
 * instead of through a dozen middlewares per request.
 */
function securityHeaders(middleware: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void): RequestHandler {
  const headers = new Map<string, string | number | readonly string[]>();
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => headers.set(name, value),
    removeHeader: (name: string) => headers.delete(name),
    getHeader: (name: string) => headers.get(name),
  };
  let synchronous = false;
  // Only fixed directives: a CSP given as a function (a nonce) would depend on the request.
  middleware({ headers: {} } as IncomingMessage, recorder as unknown as ServerResponse, (error) => {
    if (error) throw error;
    synchronous = true;
  });
  if (!synchronous) throw new Error('helmet did not finish synchronously: its headers cannot be taken once');
  const fixed = [...headers];
  return (_req, res, next) => {
    for (const [name, value] of fixed) res.setHeader(name, value);
    next();
  };
}

/** The express app, not listening: `start()` owns the process, tests use the app directly. */
export function createApp(context: AppContext): Express {
  const { config } = context;
  const app = express();
  app.disable('x-powered-by');
  // Answers are per request (packages are signed anew, lists change): hashing every body for an ETag is wasted work.
  app.set('etag', false);
  // Which proxies may name the client in X-Forwarded-For: rate limits and logs key on req.ip.
  app.set('trust proxy', config.trustProxy);
  const userSecrets = config.userInfoSecret ? { signature: config.userInfoSecret, token: config.userTokenSecret } : undefined;
  // This service answers JSON and zips: the strictest policy fits (pages it serves set their own).
  app.use(securityHeaders(helmet({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } })));
  app.use(context.metrics.httpMiddleware);
  app.use(requestLog(context.logger));

  // The endpoints browsers call take the traffic, so they come first. The page-facing part of
  // /api/v1 is public (CORS to the site's origins); the rest needs an API key.
  app.use(
    '/api/v1',
    webPushRouter({
      websitePushID: context.website.websitePushID,
      allowedOrigins: context.website.allowedDomains,
      vapidPublicKey: context.vapid.publicKey,
      endpoints: context.endpoints,
      userInfoSecret: userSecrets,
      devices: context.devices,
      metrics: context.metrics,
      rateLimitPerMinute: config.rateLimitPerMinute,
      logger: context.logger,
      clock: context.clock,
    }),
  );
  // What pages report for their device: identify, track, the daily visit.
  app.use(
    '/api/v1',
    sdkEventsRouter({
      allowedOrigins: context.website.allowedDomains,
      userInfoSecret: userSecrets,
      audience: context.audience,
      clock: context.clock,
      logger: context.logger,
      rateLimitPerMinute: config.rateLimitPerMinute,
      eventRetentionDays: config.eventRetentionDays,
      clientIp: config.clientIp,
    }),
  );
  // Safari's endpoints: they take the traffic too.
  app.use(
    safariRouter({
      websitePushID: context.website.websitePushID,
      userInfoSecret: userSecrets,
      packages: context.packages,
      authTokens: context.authTokens,
      devices: context.devices,
      logs: context.logs,
      metrics: context.metrics,
      rateLimitPerMinute: config.rateLimitPerMinute,
      clientIp: config.clientIp,
    }),
  );
  app.use(
    sdkRouter({ serviceUrl: context.website.webServiceURL, websitePushId: context.website.websitePushID, vapidPublicKey: context.vapid.publicKey, icon: context.icon }),
  );
  // Mounted even with CLICK_TRACKING off, so links already sent keep working.
  app.use(clickRouter({ clickRefs: context.clickRefs, notifications: context.notifications, urlFormatString: context.website.urlFormatString, serviceUrl: context.website.webServiceURL, metrics: context.metrics, rateLimitPerMinute: config.rateLimitPerMinute, clock: context.clock }));
  app.use(adminPageRouter());
  app.use(studioRouter());
  const apiKey = requireApiKey(context.apiKeys);
  app.use(
    operationsRouter({
      db: context.db,
      state: context.state,
      metrics: context.metrics,
      metricsGuard: config.metricsAuth === 'api-key' ? apiKey : undefined,
    }),
  );
  // The document depends only on the configuration: built once, not per request.
  const openApi = openApiDocument(context.website.websitePushID);
  app.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  app.use(
    '/api/v1',
    apiKey,
    logAdminRouter(context.logs),
    deviceAdminRouter(context.devices),
    adminHealthRouter({
      config,
      identity: context.identity,
      vapidPublicKey: context.vapid.publicKey,
      vapidSubject: context.vapid.subject,
      notifications: context.notifications,
    }),
    notificationRouter({
      notifications: context.notifications,
      idempotency: idempotent(context.idempotency, 'POST /api/v1/notifications', context.clock, context.logger),
      queue: context.queue,
      urlFormatString: context.website.urlFormatString,
      links: { clickTracking: config.clickTracking, serviceUrl: context.website.webServiceURL },
      segments: context.segments,
      audience: context.audience,
      clock: context.clock,
    }),
    campaignRouter({
      report: (campaignId, occurrenceId, options) => campaignReport(context.db, campaignId, occurrenceId, options),
      campaigns: context.campaigns,
      notifications: context.notifications,
      segments: context.segments,
      queue: context.queue,
      clock: context.clock,
      urlFormatString: context.website.urlFormatString,
      links: { clickTracking: config.clickTracking, serviceUrl: context.website.webServiceURL },
      idempotency: (scope) => idempotent(context.idempotency, scope, context.clock, context.logger),
    }),
    audienceRouter({
      audience: context.audience,
      segments: context.segments,
      clock: context.clock,
      eventRetentionDays: config.eventRetentionDays,
      idempotency: (scope) => idempotent(context.idempotency, scope, context.clock, context.logger),
    }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(context.logger));
  return app;
}
