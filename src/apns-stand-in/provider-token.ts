import crypto from 'node:crypto';

/** A provider signing key the stand-in trusts: the public half of an APNs .p8 key. */
export interface TrustedProviderKey {
  keyId: string;
  teamId: string;
  publicKey: crypto.KeyObject;
}

/** Why APNs would refuse a provider token, with its reason string, or undefined when it is good. */
export function checkProviderToken(
  authorization: string | undefined,
  keys: readonly TrustedProviderKey[],
  nowSeconds = Math.floor(Date.now() / 1000),
): 'MissingProviderToken' | 'InvalidProviderToken' | 'ExpiredProviderToken' | undefined {
  const match = /^bearer (.+)$/i.exec(authorization ?? '');
  if (!match) return 'MissingProviderToken';
  const parts = match[1].split('.');
  if (parts.length !== 3) return 'InvalidProviderToken';
  const [headerPart, claimsPart, signaturePart] = parts;
  let header: { alg?: string; kid?: string };
  let claims: { iss?: string; iat?: number };
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return 'InvalidProviderToken';
  }
  const key = keys.find((candidate) => candidate.keyId === header.kid);
  if (header.alg !== 'ES256' || !key || claims.iss !== key.teamId || typeof claims.iat !== 'number') return 'InvalidProviderToken';
  // JWS ES256 signatures are r||s (IEEE P1363), not DER.
  const valid = crypto.verify(
    'sha256',
    Buffer.from(`${headerPart}.${claimsPart}`),
    { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signaturePart, 'base64url'),
  );
  if (!valid) return 'InvalidProviderToken';
  // APNs refuses tokens older than one hour.
  if (nowSeconds - claims.iat > 3600) return 'ExpiredProviderToken';
  return undefined;
}
