import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import type { AppContext } from './context';
import { deviceAdminRouter } from './devices/admin-routes';
import { requireApiKey } from './http/api-auth';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { maskUrl } from './logger';
import { logAdminRouter } from './logs/admin-routes';
import { notificationRouter } from './notifications/routes';
import { safariRouter } from './safari/routes';

/** The express app, not listening: `start()` owns the process, tests use the app directly. */
export function createApp(context: AppContext): Express {
  const app = express();
  app.disable('x-powered-by');
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

  app.use(
    safariRouter({
      websitePushID: context.website.websitePushID,
      packages: context.packages,
      authTokens: context.authTokens,
      devices: context.devices,
      logs: context.logs,
    }),
  );
  app.use(
    '/api/v1',
    requireApiKey(context.apiKeys),
    logAdminRouter(context.logs),
    deviceAdminRouter(context.devices),
    notificationRouter({ notifications: context.notifications, queue: context.queue, urlFormatString: context.website.urlFormatString }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(context.logger));
  return app;
}
