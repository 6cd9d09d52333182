import type { RequestHandler } from 'express';
import { systemClock, type Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../logger';

/**
 * Origins warned about at most once each; the memory is bounded and starts over hourly, so a
 * client sending many made-up origins cannot silence the warning for a real one for long.
 */
const MAX_WARNED_ORIGINS = 1000;
const WARN_AGAIN_MS = 60 * 60 * 1000;

/**
 * CORS for the endpoints a site's pages call: only the site's own origins (ALLOWED_DOMAINS) may
 * call from a browser. A request from another origin is refused with 403 before it does anything;
 * one without an Origin header (not a browser, or same-origin GET) passes.
 *
 * The refusal itself is readable by the page (its preflight passes and the 403 carries
 * Access-Control-Allow-Origin), so the site's developer sees "origin not allowed" from the SDK
 * instead of a bare "Failed to fetch"; the service warns once per such origin. Reading the refusal
 * grants nothing: the request is still refused before any handler runs.
 */
export function siteCors(allowedOrigins: readonly string[], methods: readonly string[], logger?: Pick<Logger, 'warn'>, clock: Clock = systemClock): RequestHandler {
  const allowed = new Set(allowedOrigins.map((origin) => origin.replace(/\/+$/, '').toLowerCase()));
  const allowMethods = [...methods, 'OPTIONS'].join(', ');
  const warned = new Set<string>();
  let since = clock.now();
  const warnOnce = (origin: string) => {
    if (clock.now() - since >= WARN_AGAIN_MS) {
      warned.clear();
      since = clock.now();
    }
    if (!logger || warned.has(origin) || warned.size >= MAX_WARNED_ORIGINS) return;
    warned.add(origin);
    logger.warn({ origin, allowedDomains: [...allowed] }, 'A page from an origin not in ALLOWED_DOMAINS called the service; add it to ALLOWED_DOMAINS (allowedDomains of website.json) if it is the site\'s');
  };
  return (req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined) return next();
    const known = allowed.has(origin.toLowerCase());
    // Header values are latin-1; an origin that is not one is answered without CORS headers.
    const echo = /^[\x20-\x7e]{1,200}$/.test(origin) ? origin : undefined;
    if (echo) res.set('Access-Control-Allow-Origin', echo);
    if (req.method === 'OPTIONS') {
      res.set({ 'Access-Control-Allow-Methods': allowMethods, 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' });
      res.status(204).end();
      return;
    }
    if (!known) {
      warnOnce(origin.slice(0, 200));
      return next(new AppError(403, 'origin_not_allowed', `Origin ${JSON.stringify(origin.slice(0, 200))} is not one of the site's allowedDomains (ALLOWED_DOMAINS)`));
    }
    next();
  };
}
