import type { RequestHandler } from 'express';
import { AppError } from '../errors';

/**
 * CORS for the endpoints a site's pages call: only the site's own origins (ALLOWED_DOMAINS) may
 * call from a browser. A request from another origin is refused with 403 before it does anything;
 * one without an Origin header (not a browser, or same-origin GET) passes.
 */
export function siteCors(allowedOrigins: readonly string[], methods: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins.map((origin) => origin.replace(/\/+$/, '').toLowerCase()));
  const allowMethods = [...methods, 'OPTIONS'].join(', ');
  return (req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined) return next();
    if (!allowed.has(origin.toLowerCase())) {
      return next(new AppError(403, 'origin_not_allowed', `Origin ${JSON.stringify(origin.slice(0, 200))} is not one of the site's allowedDomains`));
    }
    res.set('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS') {
      res.set({ 'Access-Control-Allow-Methods': allowMethods, 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' });
      res.status(204).end();
      return;
    }
    next();
  };
}
