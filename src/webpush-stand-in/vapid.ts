import crypto from 'node:crypto';

/** What a verified VAPID authorization says about its sender (RFC 8292 §2 claims, §3.2 key). */
export interface VapidIdentity {
  /** The `sub` claim: a mailto: or https: contact for the application server's operator. */
  subject: string;
  /** The `aud` claim: the push service origin the token was made for. */
  audience: string;
  /** The `k` parameter: the application server's public key, base64url uncompressed P-256 point. */
  publicKey: string;
  /** The `exp` claim, in seconds since the epoch. */
  expiresAt: number;
}

/** Why a VAPID authorization is refused. */
export type VapidProblemCode =
  | 'missing'
  | 'not-vapid'
  | 'malformed-header'
  | 'malformed-token'
  | 'bad-key'
  | 'bad-signature'
  | 'wrong-audience'
  | 'expired'
  | 'expires-too-late'
  | 'bad-subject';

/** A refusal: 401 when there is no usable vapid credential at all, 403 when there is one and it is invalid. */
export interface VapidProblem {
  code: VapidProblemCode;
  status: 401 | 403;
  message: string;
}

/** The outcome of checking an Authorization header. */
export type VapidCheck = { ok: true; identity: VapidIdentity } | { ok: false; problem: VapidProblem };

// RFC 8292 §2: a push service MUST reject a token whose exp is more than 24 hours away.
const MAX_LIFETIME_SECONDS = 24 * 60 * 60;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const refuse = (code: VapidProblemCode, message: string): VapidCheck => ({
  ok: false,
  problem: { code, status: code === 'missing' || code === 'not-vapid' || code === 'malformed-header' ? 401 : 403, message },
});

/**
 * Splits `vapid t=<jwt>, k=<key>` into its two parameters (RFC 8292 §3). Parameters may come in
 * either order and, as auth-params, may be quoted; undefined when it is not that scheme or a
 * parameter is missing.
 */
export function parseVapidAuthorization(header: string): { token: string; key: string } | undefined {
  const match = /^vapid\s+(.+)$/i.exec(header.trim());
  if (!match) return undefined;
  const params = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const param = /^\s*([A-Za-z]+)\s*=\s*"?([^"]*)"?\s*$/.exec(part);
    if (param) params.set(param[1].toLowerCase(), param[2]);
  }
  const token = params.get('t');
  const key = params.get('k');
  return token && key ? { token, key } : undefined;
}

function publicKeyFromPoint(point: Buffer): crypto.KeyObject | undefined {
  if (point.length !== 65 || point[0] !== 0x04) return undefined;
  try {
    const coordinate = (from: number) => point.subarray(from, from + 32).toString('base64url');
    return crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: coordinate(1), y: coordinate(33) }, format: 'jwk' });
  } catch {
    return undefined; // not a point on the curve
  }
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks an `Authorization` header as a push service does (RFC 8292): an ES256 JWT signed by the
 * key in `k`, made for `audience` (the origin of the endpoint being posted to), expiring in the
 * future but within 24 hours, with a mailto: or https: subject. Claims are only read once the
 * signature holds: RFC 8292 §4.1 forbids using anything from an invalid token.
 */
export function verifyVapid(authorization: string | undefined, audience: string, nowSeconds = Math.floor(Date.now() / 1000)): VapidCheck {
  if (!authorization) return refuse('missing', 'Authorization header missing (expected vapid t=<JWT>, k=<key>)');
  if (!/^vapid\s/i.test(authorization.trim())) return refuse('not-vapid', 'Authorization is not the vapid scheme');
  const parsed = parseVapidAuthorization(authorization);
  if (!parsed) return refuse('malformed-header', 'vapid Authorization needs both t= and k=');

  if (!BASE64URL.test(parsed.key)) return refuse('bad-key', 'k is not base64url');
  const publicKey = publicKeyFromPoint(Buffer.from(parsed.key, 'base64url'));
  if (!publicKey) return refuse('bad-key', 'k is not an uncompressed P-256 public key');

  const parts = parsed.token.split('.');
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) return refuse('malformed-token', 't is not a compact JWT');
  const [headerPart, claimsPart, signaturePart] = parts;
  const header = decodeJson(headerPart);
  if (header?.alg !== 'ES256') return refuse('malformed-token', 'JWT alg must be ES256');
  // JWS ES256 signatures are r||s (IEEE P1363, 64 bytes), not DER.
  const signature = Buffer.from(signaturePart, 'base64url');
  const signed = Buffer.from(`${headerPart}.${claimsPart}`, 'ascii');
  if (signature.length !== 64 || !crypto.verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) {
    return refuse('bad-signature', 'JWT signature does not verify with k');
  }

  const claims = decodeJson(claimsPart);
  if (!claims) return refuse('malformed-token', 'JWT claims are not a JSON object');
  if (claims.aud !== audience) return refuse('wrong-audience', `JWT aud must be ${audience}`);
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isInteger(exp)) return refuse('malformed-token', 'JWT exp must be an integer');
  if (exp <= nowSeconds) return refuse('expired', 'JWT has expired');
  if (exp > nowSeconds + MAX_LIFETIME_SECONDS) return refuse('expires-too-late', 'JWT exp is more than 24 hours ahead');
  const sub = claims.sub;
  if (typeof sub !== 'string' || !(sub.startsWith('mailto:') || sub.startsWith('https:'))) {
    return refuse('bad-subject', 'JWT sub must be a mailto: or https: URL');
  }
  return { ok: true, identity: { subject: sub, audience, publicKey: parsed.key, expiresAt: exp } };
}
