import crypto from 'node:crypto';
import { safeEqual } from '../safe-equal';

/** What an `authenticationToken` proves: which user (or nobody in particular) got the package, and when. */
export interface TokenClaims {
  userId: string | null;
  issuedAt: Date;
  /** Random per package: what binds an anonymous device to the package it registered with. */
  nonce: string;
  /** What the page said of the browser (SafariPush.init sends them in userInfo): device facts. */
  timezone: string | null;
  language: string | null;
}

/** Device facts a package's token carries to the registration. */
export interface DeviceFacts {
  timezone?: string | null;
  language?: string | null;
}

export interface AuthTokens {
  /** A new, unguessable token bound to `userId`; the first secret signs it. */
  mint(userId: string | null, facts?: DeviceFacts): string;
  /** The claims of a token made by any of the secrets, or undefined for anything else. */
  verify(token: string): TokenClaims | undefined;
}

const MAX_TOKEN_LENGTH = 1024;

/**
 * Stateless tokens: `base64url(claims).base64url(HMAC-SHA256)`. Any instance holding one of the
 * secrets can verify them after any restart, with no lookup. The MAC also covers the push ID, so a
 * token minted for one website is worthless for another that shares the secret.
 */
export function createAuthTokens(secrets: readonly string[], websitePushID: string): AuthTokens {
  if (secrets.length === 0) throw new Error('createAuthTokens needs at least one secret');
  const mac = (secret: string, payload: string) =>
    crypto.createHmac('sha256', secret).update(`${websitePushID}\n${payload}`).digest();

  return {
    mint(userId, facts = {}) {
      const claims = {
        u: userId,
        i: Math.floor(Date.now() / 1000),
        n: crypto.randomBytes(12).toString('base64url'),
        ...(facts.timezone ? { z: facts.timezone } : {}),
        ...(facts.language ? { l: facts.language } : {}),
      };
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      return `${payload}.${mac(secrets[0], payload).toString('base64url')}`;
    },
    verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) return undefined;
      const [payload, signature, extra] = token.split('.');
      if (!payload || !signature || extra !== undefined) return undefined;
      const given = Buffer.from(signature, 'base64url');
      // Only the canonical spelling: base64url's last character carries unused bits, and a token
      // that differs from the one we minted must not verify.
      if (given.toString('base64url') !== signature) return undefined;
      const valid = secrets.some((secret) => safeEqual(given, mac(secret, payload)));
      if (!valid) return undefined;
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { u: string | null; i: number; n: string; z?: string; l?: string };
      return { userId: claims.u, issuedAt: new Date(claims.i * 1000), nonce: claims.n, timezone: claims.z ?? null, language: claims.l ?? null };
    },
  };
}
