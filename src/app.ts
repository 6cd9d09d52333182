import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { AppContext } from './context';
import { deviceAdminRouter } from './devices/admin-routes';
import { operationsRouter } from './health/routes';
import { requireApiKey } from './http/api-auth';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { openApiDocument } from './http/openapi';
import { maskUrl } from './logger';
import { logAdminRouter } from './logs/admin-routes';
import { notificationRouter } from './notifications/routes';
import { safariRouter } from './safari/routes';

/** The express app, not listening: `start()` owns the process, tests use the app directly. */
export function createApp(context: AppContext): Express {
  const { config } = context;
  const app = express();
  app.disable('x-powered-by');
  // Which proxies may name the client in X-Forwarded-For: rate limits and logs key on req.ip.
  app.set('trust proxy', config.trustProxy);
  app.use(helmet());
  app.use(context.metrics.httpMiddleware);
  app.use(
    pinoHttp({
      logger: context.logger,
      // Only what is safe to keep: no headers (Authorization carries secrets), device tokens masked.
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, url: maskUrl(req.url) }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );

  const apiKey = requireApiKey(context.apiKeys);
  app.use(
    operationsRouter({
      db: context.db,
      state: context.state,
      metrics: context.metrics,
      metricsGuard: config.metricsAuth === 'api-key' ? apiKey : undefined,
    }),
  );
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(context.website.websitePushID));
  });
  app.use(
    safariRouter({
      websitePushID: context.website.websitePushID,
      userInfoSecret: config.userInfoSecret,
      packages: context.packages,
      authTokens: context.authTokens,
      devices: context.devices,
      logs: context.logs,
      metrics: context.metrics,
      rateLimitPerMinute: config.rateLimitPerMinute,
    }),
  );
  app.use(
    '/api/v1',
    apiKey,
    logAdminRouter(context.logs),
    deviceAdminRouter(context.devices),
    notificationRouter({ notifications: context.notifications, queue: context.queue, urlFormatString: context.website.urlFormatString }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(context.logger));
  return app;
}
