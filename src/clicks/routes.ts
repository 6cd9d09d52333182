import { Router, type Request } from 'express';
import { badRequest } from '../errors';
import { perMinuteLimit } from '../http/rate-limit';
import type { Metrics } from '../metrics/metrics';
import type { NotificationRepository } from '../notifications/repository';
import type { ClickRef, ClickRefs } from './click-ref';
import { buildTargetUrl } from './target-url';

export interface ClickDeps {
  clickRefs: ClickRefs;
  notifications: Pick<NotificationRepository, 'recordClick'>;
  /** The site's own urlFormatString: the only place a click may lead. */
  urlFormatString: string;
  metrics: Pick<Metrics, 'click'>;
  /** Requests per minute per client address (RATE_LIMIT_PER_MINUTE); 0 = unlimited. */
  rateLimitPerMinute: number;
}

/**
 * Click tracking. Safari opens `GET /click/<ref>` (the package's urlFormatString points here): the
 * click is counted once per delivery and the browser is sent on to the site's own URL. The service
 * worker reports Web Push clicks with `POST /click/<ref>` and opens the page itself.
 */
export function clickRouter(deps: ClickDeps): Router {
  const router = Router();
  const verified = (req: Request): ClickRef => {
    const ref = deps.clickRefs.verify(String(req.params.ref));
    if (!ref) throw badRequest('Not a click link of this service (unsigned, altered or from a retired AUTH_TOKEN_SECRET)', 'invalid_click_ref');
    return ref;
  };
  const count = async (ref: ClickRef, channel: 'safari' | 'webpush') => {
    if ((await deps.notifications.recordClick(ref.notificationId, ref.deliveryId, Date.now())) === 'counted') deps.metrics.click(channel);
  };

  // Each valid link costs a database write: limited per address like the other public endpoints.
  const limit = perMinuteLimit(deps.rateLimitPerMinute);
  router.get('/click/:ref', ...limit, async (req, res) => {
    const ref = verified(req);
    const target = buildTargetUrl(deps.urlFormatString, ref.urlArgs);
    if (!target) throw badRequest('The link\'s url-args no longer fit the site\'s urlFormatString', 'invalid_click_ref');
    await count(ref, 'safari');
    res.set('Cache-Control', 'no-store').redirect(302, target);
  });
  router.post('/click/:ref', ...limit, async (req, res) => {
    await count(verified(req), 'webpush');
    // The service worker's report is cross-origin (no-cors): let it read nothing but the status.
    res.set('Cross-Origin-Resource-Policy', 'cross-origin').status(204).end();
  });
  return router;
}
