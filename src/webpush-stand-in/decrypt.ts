import crypto from 'node:crypto';

/**
 * A subscription's keys as the browser keeps them after `pushManager.subscribe()`: the public
 * half and the auth secret go to the application server, the private key never leaves the browser.
 */
export interface SubscriptionKeys {
  /** Uncompressed P-256 public point (65 bytes), base64url: the subscription's `keys.p256dh`. */
  p256dh: string;
  /** 16-byte authentication secret, base64url: the subscription's `keys.auth`. */
  auth: string;
  /** The P-256 private scalar, needed to decrypt. */
  privateKey: Buffer;
}

/** A push message body that cannot be decrypted; the message says which step failed. */
export class DecryptError extends Error {
  override name = 'DecryptError';
}

const SALT_BYTES = 16;
const HEADER_BYTES = SALT_BYTES + 4 + 1;
const PUBLIC_KEY_BYTES = 65;
const TAG_BYTES = 16;
// RFC 8188 §2: a record holds at least one octet of plaintext (the delimiter) plus the tag.
const MIN_RECORD_SIZE = TAG_BYTES + 2;
const LAST_RECORD_DELIMITER = 0x02;

function fail(reason: string): never {
  throw new DecryptError(reason);
}

function hkdf(salt: Buffer, ikm: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, length));
}

/** Fresh subscription keys, made the way a browser makes them (RFC 8291 §2: P-256 ECDH, 16-byte auth secret). */
export function createSubscriptionKeys(): SubscriptionKeys {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    p256dh: ecdh.getPublicKey().toString('base64url'),
    auth: crypto.randomBytes(16).toString('base64url'),
    privateKey: ecdh.getPrivateKey(),
  };
}

/**
 * Decrypts a Web Push message body (`Content-Encoding: aes128gcm`) as the browser holding
 * `receiver` would: RFC 8188 header, RFC 8291 key schedule, one AES-128-GCM record. Written
 * against the RFCs with node:crypto alone, so it checks a sender's encryption instead of
 * agreeing with it by construction. Throws DecryptError when anything does not add up.
 */
export function decryptPushMessage(body: Buffer, receiver: { privateKey: Buffer; auth: string | Buffer }): Buffer {
  if (body.length < HEADER_BYTES) fail('body is shorter than the aes128gcm header');
  const salt = body.subarray(0, SALT_BYTES);
  const recordSize = body.readUInt32BE(SALT_BYTES);
  const keyIdLength = body[SALT_BYTES + 4];
  // RFC 8291 §4: the keyid carries the sender's ephemeral public key, as an uncompressed point.
  if (keyIdLength !== PUBLIC_KEY_BYTES) fail(`keyid is ${keyIdLength} bytes, not a 65-byte P-256 public key`);
  if (body.length < HEADER_BYTES + keyIdLength) fail('body ends inside the keyid');
  const senderPublicKey = body.subarray(HEADER_BYTES, HEADER_BYTES + keyIdLength);
  if (senderPublicKey[0] !== 0x04) fail('keyid is not an uncompressed P-256 point');
  if (recordSize < MIN_RECORD_SIZE) fail(`record size ${recordSize} is below the minimum of ${MIN_RECORD_SIZE}`);
  const record = body.subarray(HEADER_BYTES + keyIdLength);
  if (record.length < TAG_BYTES + 1) fail('no encrypted record after the header');
  // RFC 8291 §4: a push message is one record, so a body longer than rs was split by the sender.
  if (record.length > recordSize) fail(`body holds more than one record (rs ${recordSize}, ${record.length} bytes of records)`);

  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(receiver.privateKey);
  let ecdhSecret: Buffer;
  try {
    ecdhSecret = ecdh.computeSecret(senderPublicKey);
  } catch {
    fail('sender public key is not a point on P-256');
  }
  const authSecret = typeof receiver.auth === 'string' ? Buffer.from(receiver.auth, 'base64url') : receiver.auth;

  // RFC 8291 §3.4: mix the auth secret and both public keys into the input keying material...
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0', 'ascii'), ecdh.getPublicKey(), senderPublicKey]);
  const ikm = hkdf(authSecret, ecdhSecret, keyInfo, 32);
  // ...then RFC 8188 §2.2 and §2.3 derive the content key and nonce from it with the header's salt.
  const contentKey = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0', 'ascii'), 16);
  // The nonce is XORed with the record sequence number, which for the only record is 0.
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0', 'ascii'), 12);

  const decipher = crypto.createDecipheriv('aes-128-gcm', contentKey, nonce);
  decipher.setAuthTag(record.subarray(record.length - TAG_BYTES));
  let padded: Buffer;
  try {
    padded = Buffer.concat([decipher.update(record.subarray(0, record.length - TAG_BYTES)), decipher.final()]);
  } catch {
    fail('record does not authenticate (encrypted for other keys, or altered)');
  }

  // RFC 8188 §2: plaintext, then the delimiter (2 for the last record), then any number of zeros.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (end < 0) fail('record has no padding delimiter');
  if (padded[end] !== LAST_RECORD_DELIMITER) fail(`last record ends with delimiter ${padded[end]}, not 2 (truncated message?)`);
  return padded.subarray(0, end);
}
