import crypto from 'node:crypto';

/**
 * RFC 8291 message encryption (`Content-Encoding: aes128gcm`, RFC 8188) with node:crypto alone:
 * a fresh P-256 key pair per message (RFC 8291 §2), the key schedule of §3.4 written as the HMAC
 * steps it is, and one AES-128-GCM record. What the push service stand-in decrypts with its own
 * independent code (src/webpush-stand-in/decrypt.ts).
 */

/** The record size written in the header: one record of at most 4096 bytes (RFC 8291 §4). */
const RECORD_SIZE = 4096;
const SALT_BYTES = 16;
const PUBLIC_KEY_BYTES = 65;
const AUTH_BYTES = 16;
/** 16 salt + 4 record size + 1 key id length + 65 key id. */
export const HEADER_BYTES = SALT_BYTES + 4 + 1 + PUBLIC_KEY_BYTES;
const TAG_BYTES = 16;
/** Largest plaintext one 4096-byte record carries: 4096 − 86 header − 1 delimiter − 16 tag. */
export const MAX_PLAINTEXT_BYTES = RECORD_SIZE - HEADER_BYTES - 1 - TAG_BYTES;

const KEY_INFO_PREFIX = Buffer.from('WebPush: info\0', 'latin1');
const CEK_INFO = Buffer.from('Content-Encoding: aes128gcm\0\x01', 'latin1');
const NONCE_INFO = Buffer.from('Content-Encoding: nonce\0\x01', 'latin1');
const ONE = Buffer.from([1]);
const LAST_RECORD = Buffer.from([2]);

/** A subscription's keys that cannot be used: the message says which and why. */
export class EncryptionError extends Error {
  override name = 'EncryptionFailed';
}

const hmac = (key: Buffer, ...data: Buffer[]): Buffer => {
  const mac = crypto.createHmac('sha256', key);
  for (const part of data) mac.update(part);
  return mac.digest();
};

/** Decodes and checks a subscription's `p256dh` and `auth` (base64url, as the browser gives them). */
function subscriptionKeys(p256dh: string, auth: string): { uaPublic: Buffer; authSecret: Buffer } {
  const uaPublic = Buffer.from(p256dh, 'base64url');
  const authSecret = Buffer.from(auth, 'base64url');
  if (uaPublic.length !== PUBLIC_KEY_BYTES || uaPublic[0] !== 4) throw new EncryptionError(`p256dh is not an uncompressed P-256 public key (${uaPublic.length} bytes)`);
  if (authSecret.length !== AUTH_BYTES) throw new EncryptionError(`auth is ${authSecret.length} bytes, not 16`);
  return { uaPublic, authSecret };
}

/** The aes128gcm body of one push message to the subscription with these keys. */
export function encryptPushMessage(p256dh: string, auth: string, plaintext: string | Buffer): Buffer {
  const { uaPublic, authSecret } = subscriptionKeys(p256dh, auth);
  const content = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  if (content.length > MAX_PLAINTEXT_BYTES) throw new EncryptionError(`payload is ${content.length} bytes, one record carries at most ${MAX_PLAINTEXT_BYTES}`);
  const ecdh = crypto.createECDH('prime256v1');
  const asPublic = ecdh.generateKeys();
  let shared: Buffer;
  try {
    shared = ecdh.computeSecret(uaPublic);
  } catch (error) {
    throw new EncryptionError(`p256dh is not a point on P-256: ${(error as Error).message}`);
  }
  // RFC 8291 §3.3-3.4: IKM from the ECDH secret and the auth secret, then RFC 8188's CEK and nonce.
  const prkKey = hmac(authSecret, shared);
  const ikm = hmac(prkKey, KEY_INFO_PREFIX, uaPublic, asPublic, ONE);
  const salt = crypto.randomBytes(SALT_BYTES);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, CEK_INFO).subarray(0, 16);
  const nonce = hmac(prk, NONCE_INFO).subarray(0, 12);
  const cipher = crypto.createCipheriv('aes-128-gcm', cek, nonce);
  const body = Buffer.allocUnsafe(HEADER_BYTES + content.length + 1 + TAG_BYTES);
  salt.copy(body, 0);
  body.writeUInt32BE(RECORD_SIZE, SALT_BYTES);
  body[SALT_BYTES + 4] = PUBLIC_KEY_BYTES;
  asPublic.copy(body, SALT_BYTES + 5);
  let offset = HEADER_BYTES;
  offset += cipher.update(content).copy(body, offset);
  offset += cipher.update(LAST_RECORD).copy(body, offset);
  offset += cipher.final().copy(body, offset);
  cipher.getAuthTag().copy(body, offset);
  return body;
}
