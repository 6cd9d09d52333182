import crypto from 'node:crypto';
import fc from 'fast-check';
import { isP256PublicPoint } from '../../src/webpush/p256';

/** node:crypto's own answer for an uncompressed point (it refuses points off the curve). */
function nodeAccepts(point: Buffer): boolean {
  if (point[0] !== 0x04) return false;
  try {
    crypto.ECDH.convertKey(point, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}

describe('P-256 public point check', () => {
  test('when a point is a real P-256 public key, then it is accepted, as node:crypto accepts it', () => {
    for (let i = 0; i < 200; i++) {
      const point = crypto.createECDH('prime256v1').generateKeys();
      expect(isP256PublicPoint(point)).toBe(true);
      expect(nodeAccepts(point)).toBe(true);
    }
  });

  test('when any byte of a real key is changed, or the bytes are random, then the check agrees with node:crypto', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1, max: 255 }), fc.uint8Array({ minLength: 65, maxLength: 65 }), (index, flip, random) => {
        const point = crypto.createECDH('prime256v1').generateKeys();
        point[index] ^= flip;
        expect(isP256PublicPoint(point)).toBe(nodeAccepts(point));
        const noise = Buffer.from(random);
        noise[0] = 0x04;
        expect(isP256PublicPoint(noise)).toBe(nodeAccepts(noise));
      }),
      { numRuns: 300 },
    );
  });

  test('when the coordinates are not below the field prime, or the form is compressed or hybrid, then it is refused', () => {
    const point = crypto.createECDH('prime256v1').generateKeys();
    const big = Buffer.from(point);
    big.fill(0xff, 1, 33);
    expect(isP256PublicPoint(big)).toBe(false);
    const hybrid = Buffer.from(point);
    hybrid[0] = 0x06 | (point[64] & 1);
    expect(isP256PublicPoint(hybrid)).toBe(false);
    expect(isP256PublicPoint(crypto.ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer)).toBe(false);
    expect(isP256PublicPoint(Buffer.alloc(65))).toBe(false);
  });
});
