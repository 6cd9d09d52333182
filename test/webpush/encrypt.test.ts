import { createLogger } from '../../src/logger';
import { encryptPushMessage, EncryptionError, HEADER_BYTES, MAX_PLAINTEXT_BYTES } from '../../src/webpush/encrypt';
import { createEncryptPool, EncryptThreadError } from '../../src/webpush/encrypt-pool';
import { MAX_WEB_PUSH_PAYLOAD_BYTES } from '../../src/webpush/payload';
import { createSubscriptionKeys, decryptPushMessage } from '../../src/webpush-stand-in/decrypt';

describe('RFC 8291 encryption (node:crypto) and its threads', () => {
  const keys = createSubscriptionKeys();

  test('when messages of any size up to one record are encrypted, then the stand-in\'s independent decryption gets them back, each with a fresh sender key', () => {
    expect(MAX_PLAINTEXT_BYTES).toBe(MAX_WEB_PUSH_PAYLOAD_BYTES);
    const senderKeys = new Set<string>();
    for (const size of [0, 1, 15, 16, 17, 600, MAX_PLAINTEXT_BYTES]) {
      const text = 'é☕'.repeat(size).slice(0, size);
      const plaintext = Buffer.from(text).subarray(0, size);
      const body = encryptPushMessage(keys.p256dh, keys.auth, plaintext);
      expect(body.length).toBe(HEADER_BYTES + plaintext.length + 1 + 16);
      expect(body.length).toBeLessThanOrEqual(4096);
      expect(decryptPushMessage(body, keys).equals(plaintext)).toBe(true);
      senderKeys.add(body.subarray(21, 86).toString('hex'));
    }
    expect(senderKeys.size).toBe(7);
  });

  test('when the payload is larger than one record or the keys are not usable, then EncryptionError says which', () => {
    expect(() => encryptPushMessage(keys.p256dh, keys.auth, Buffer.alloc(MAX_PLAINTEXT_BYTES + 1))).toThrow(new EncryptionError(`payload is ${MAX_PLAINTEXT_BYTES + 1} bytes, one record carries at most ${MAX_PLAINTEXT_BYTES}`));
    const notOnCurve = Buffer.alloc(65, 1);
    notOnCurve[0] = 4;
    expect(() => encryptPushMessage(notOnCurve.toString('base64url'), keys.auth, 'x')).toThrow(/p256dh is not a point on P-256/);
    expect(() => encryptPushMessage(keys.p256dh.slice(0, 20), keys.auth, 'x')).toThrow(/p256dh is not an uncompressed P-256 public key/);
    expect(() => encryptPushMessage(keys.p256dh, 'c2hvcnQ', 'x')).toThrow('auth is 5 bytes, not 16');
  });

  test('when two threads encrypt a burst, then every body decrypts to its own message; a bad key fails only its own message', async () => {
    const pool = createEncryptPool(2, createLogger('silent'));
    try {
      const messages = Array.from({ length: 300 }, (_, i) => `{"n":${i}}`);
      const bodies = await Promise.all(messages.map((m) => pool.encrypt(keys.p256dh, keys.auth, m)));
      expect(bodies.map((b) => decryptPushMessage(b, keys).toString())).toEqual(messages);
      expect(pool.threads).toHaveLength(2);
      const [bad, good] = await Promise.allSettled([pool.encrypt(keys.p256dh, 'c2hvcnQ', 'x'), pool.encrypt(keys.p256dh, keys.auth, 'y')]);
      expect(bad).toMatchObject({ status: 'rejected', reason: expect.any(EncryptionError) });
      expect(good.status).toBe('fulfilled');
    } finally {
      await pool.close();
    }
  });

  test('when an encryption thread dies with messages in it, then those fail as retryable (not EncryptionError) and the next message starts a new thread', async () => {
    const pool = createEncryptPool(1, createLogger('silent'));
    try {
      await pool.encrypt(keys.p256dh, keys.auth, 'warm');
      const [thread] = pool.threads;
      const pending = Array.from({ length: 20 }, () => pool.encrypt(keys.p256dh, keys.auth, 'x'));
      await thread.terminate();
      const results = await Promise.allSettled(pending);
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((r) => r.reason instanceof EncryptThreadError)).toBe(true);
      expect(failed.length + results.filter((r) => r.status === 'fulfilled').length).toBe(20);
      const after = await pool.encrypt(keys.p256dh, keys.auth, 'again');
      expect(decryptPushMessage(after, keys).toString()).toBe('again');
      expect(pool.threads[0]).not.toBe(thread);
    } finally {
      await pool.close();
    }
  });
});
