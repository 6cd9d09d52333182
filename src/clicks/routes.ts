import { Router, type Request } from 'express';
import type { Clock } from '../clock';
import { badRequest } from '../errors';
import { perMinuteLimit } from '../http/rate-limit';
import type { Metrics } from '../metrics/metrics';
import type { NotificationRepository } from '../notifications/repository';
import type { ClickRef, ClickRefs } from './click-ref';
import { buildTargetUrl } from './target-url';

export interface ClickDeps {
  clickRefs: ClickRefs;
  notifications: Pick<NotificationRepository, 'recordClick' | 'recordShown' | 'get'>;
  /** The site's own urlFormatString: where Safari clicks (and Web Push ones without a url) lead. */
  urlFormatString: string;
  /** This service's public URL: where a Web Push click goes when nothing else fits (as the payload's navigate would). */
  serviceUrl: string;
  metrics: Pick<Metrics, 'click'>;
  /** Requests per minute per client address (RATE_LIMIT_PER_MINUTE); 0 = unlimited. */
  rateLimitPerMinute: number;
  clock: Clock;
}

/**
 * Click tracking. Safari opens `GET /click/<ref>` (the package's urlFormatString points here), and
 * so does a Web Push click: the declarative message's `navigate` (and each button's) is such a
 * link. The click is counted once per delivery, with the button it came from, and the browser is
 * sent on to the page. `POST /click/<ref>` counts without a redirect: what service workers of
 * earlier versions report.
 */
export function clickRouter(deps: ClickDeps): Router {
  const router = Router();
  const verified = (req: Request): ClickRef => {
    const ref = deps.clickRefs.verify(String(req.params.ref));
    if (!ref) throw badRequest('Not a click link of this service (unsigned, altered or from a retired AUTH_TOKEN_SECRET)', 'invalid_click_ref');
    return ref;
  };
  const count = async (ref: ClickRef, channel: 'safari' | 'webpush') => {
    // A Web Push link names what was clicked: 0 the notification, 1 and 2 its buttons.
    const action = ref.target !== undefined && ref.target > 0 ? ref.target - 1 : undefined;
    if ((await deps.notifications.recordClick(ref.notificationId, ref.deliveryId, deps.clock.now(), action)) === 'counted') deps.metrics.click(channel);
  };
  /** Where a click leads: for Web Push the page stored with the notification for what was clicked. */
  const destination = async (ref: ClickRef): Promise<string | undefined> => {
    if (ref.target === undefined) return buildTargetUrl(deps.urlFormatString, ref.urlArgs);
    // A personalized send's page, rendered for this device and signed into the link.
    if (ref.target === 0 && ref.url !== undefined) return ref.url;
    const notification = await deps.notifications.get(ref.notificationId);
    if (!notification) return undefined;
    // The same page the sender put in the payload when no click link was used.
    if (ref.target === 0) return notification.webPush?.url ?? buildTargetUrl(deps.urlFormatString, notification.urlArgs) ?? deps.serviceUrl;
    return notification.webPush?.actions?.[ref.target - 1]?.url;
  };

  // Each valid link costs a database write: limited per address like the other public endpoints.
  const limit = perMinuteLimit(deps.rateLimitPerMinute);
  router.get('/click/:ref', ...limit, async (req, res) => {
    const ref = verified(req);
    const target = await destination(ref);
    if (!target) throw badRequest('The link no longer leads anywhere (its url-args do not fit the site\'s urlFormatString, or its notification is gone)', 'invalid_click_ref');
    await count(ref, ref.target === undefined ? 'safari' : 'webpush');
    res.set('Cache-Control', 'no-store').redirect(302, target);
  });
  router.post('/click/:ref', ...limit, async (req, res) => {
    await count(verified(req), 'webpush');
    // The service worker's report is cross-origin (no-cors): let it read nothing but the status.
    res.set('Cross-Origin-Resource-Policy', 'cross-origin').status(204).end();
  });
  // The service worker reports that it showed a Web Push notification (results: "shown"), once
  // per delivery; a repeat or an unknown delivery still answers 204 and counts nothing.
  // A budget of its own: a broadcast's automatic reports from many browsers behind one address must not use up their clicks'.
  const shownLimit = perMinuteLimit(deps.rateLimitPerMinute);
  router.post('/shown/:ref', ...shownLimit, async (req, res) => {
    const ref = deps.clickRefs.verifyShown(String(req.params.ref));
    if (!ref) throw badRequest('Not a shown link of this service (unsigned, altered or from a retired AUTH_TOKEN_SECRET)', 'invalid_shown_ref');
    await deps.notifications.recordShown(ref.notificationId, ref.deliveryId, deps.clock.now());
    res.set('Cross-Origin-Resource-Policy', 'cross-origin').status(204).end();
  });
  return router;
}
