import crypto from 'node:crypto';

/**
 * Compares two MACs or digests in constant time. timingSafeEqual throws on buffers of different
 * lengths (a client can send any length), so those are simply unequal.
 */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
