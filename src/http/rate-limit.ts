import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../errors';

/**
 * A per-client-address limit of `perMinute` requests (0 = off), as a middleware list to spread into a
 * route. Each call makes an independent
 * budget, so one endpoint's traffic does not use up another's. Counts live in this process: behind
 * several instances each enforces its own share.
 */
export function perMinuteLimit(perMinute: number): RequestHandler[] {
  // Off: no middleware at all rather than one that passes everything on.
  if (perMinute === 0) return [];
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new AppError(429, 'rate_limited', `Too many requests: at most ${perMinute} per minute from one address`)),
  });
  return [limiter];
}
