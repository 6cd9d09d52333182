import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import { unauthorized } from '../errors';

const digest = (value: string) => crypto.createHash('sha256').update(value).digest();

/**
 * Accepts `Authorization: Bearer <key>` for any of `keys` (several during rotation). Keys are
 * compared as SHA-256 digests with timingSafeEqual, so neither length nor content leaks by timing.
 */
export function requireApiKey(keys: readonly string[]): RequestHandler {
  const digests = keys.map(digest);
  return (req, _res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!match) return next(unauthorized('Send Authorization: Bearer <API key>'));
    const given = digest(match[1]);
    // Compare against every key, no early exit.
    const ok = digests.reduce((found, key) => crypto.timingSafeEqual(key, given) || found, false);
    next(ok ? undefined : unauthorized('API key is not valid'));
  };
}
