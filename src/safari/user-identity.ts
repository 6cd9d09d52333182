import crypto from 'node:crypto';
import { AppError } from '../errors';
import { textProblem } from '../http/text';
import { safeEqual } from '../safe-equal';

/** What a page may send to say who the visitor is (Safari's userInfo, or a Web Push subscription's user). */
export interface ClaimedUser {
  userId?: string | null;
  /** hex HMAC-SHA256(USER_INFO_SECRET, userId), made by the site's backend. */
  signature?: string;
  /** An HS256 JWT signed with USER_INFO_SECRET whose `sub` is the user id. */
  userToken?: string;
}

const forbidden = (message: string) => new AppError(403, 'invalid_user_signature', message);

/**
 * The `sub` of a valid, unexpired HS256 JWT; 'invalid' for anything not signed, expired or not yet
 * valid, 'bad-subject' for a token the site signed whose subject cannot be a user id.
 */
function jwtSubject(token: string, secret: string, nowSeconds: number): string | 'invalid' | 'bad-subject' {
  const [header, claims, signature, extra] = token.split('.');
  if (!header || !claims || !signature || extra !== undefined) return 'invalid';
  const expected = crypto.createHmac('sha256', secret).update(`${header}.${claims}`).digest();
  const given = Buffer.from(signature, 'base64url');
  // Canonical base64url only, so one signature has one spelling.
  if (given.toString('base64url') !== signature || !safeEqual(given, expected)) return 'invalid';
  try {
    const { alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string };
    const { sub, exp, nbf } = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { sub?: unknown; exp?: unknown; nbf?: unknown };
    if (alg !== 'HS256') return 'invalid';
    // A time claim that is not a number cannot be judged: the token is not valid (RFC 7519 NumericDate).
    if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= nowSeconds)) return 'invalid';
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf) || nbf > nowSeconds)) return 'invalid';
    // The subject becomes a stored user id: the same rules as a userId sent in the clear.
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255 || textProblem(sub)) return 'bad-subject';
    return sub;
  } catch {
    return 'invalid';
  }
}

/** USER_INFO_SECRET signs plain user ids; USER_TOKEN_SECRET, when set, is the only key of userToken JWTs. */
export interface UserSecrets {
  signature: string | undefined;
  token?: string;
}

/**
 * The user a request may act for. Without a secret the claimed `userId` is taken as is (any page
 * can claim any id: fine for anonymous analytics, not for private notifications). With
 * USER_INFO_SECRET, an id counts only when the site's backend signed it; a claim without a valid
 * signature is refused with 403 rather than silently made anonymous, so a broken integration shows.
 */
export function verifiedUserId(claim: ClaimedUser, secrets: string | UserSecrets | undefined, nowSeconds = Math.floor(Date.now() / 1000)): string | null {
  const { signature: secret, token: tokenSecret } = typeof secrets === 'string' ? { signature: secrets, token: undefined } : (secrets ?? { signature: undefined, token: undefined });
  if (!secret) return claim.userId ?? null;
  if (claim.userToken !== undefined) {
    const subject = jwtSubject(claim.userToken, tokenSecret ?? secret, nowSeconds);
    if (subject === 'invalid') throw forbidden(`userToken is not a valid, unexpired HS256 JWT signed with the site's ${tokenSecret ? 'USER_TOKEN_SECRET' : 'USER_INFO_SECRET'}`);
    if (subject === 'bad-subject') throw new AppError(400, 'invalid_user_id', 'userToken\'s sub must be a user id: 1 to 255 characters of well-formed text without NUL');
    if (claim.userId !== undefined && claim.userId !== null && claim.userId !== subject) throw forbidden('userId does not match the userToken\'s subject');
    return subject;
  }
  if (claim.userId === undefined || claim.userId === null) return null;
  const expected = crypto.createHmac('sha256', secret).update(claim.userId).digest();
  if (!claim.signature || !/^[0-9a-fA-F]{64}$/.test(claim.signature) || !safeEqual(Buffer.from(claim.signature, 'hex'), expected)) {
    throw forbidden('userId needs signature = hex HMAC-SHA256(USER_INFO_SECRET, userId) from the site\'s backend');
  }
  return claim.userId;
}
