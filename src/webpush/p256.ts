/**
 * Whether 65 bytes are an uncompressed P-256 public point (SEC 1 §2.3.4): 0x04, then x and y below
 * the field prime, with y² = x³ − 3x + b (mod p). P-256 has cofactor 1, so a point on the curve is
 * in the group, and the point at infinity has no uncompressed form: this is the whole check a
 * public key needs. Written with BigInt because it runs for every subscription a page posts, and
 * node:crypto's ECDH.convertKey costs about four times as much for the same answer (it also takes
 * hybrid 0x06/0x07 forms, which RFC 8291 does not allow). Tested against node:crypto.
 */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

const toBigInt = (bytes: Buffer): bigint => BigInt(`0x${bytes.toString('hex')}`);

export function isP256PublicPoint(point: Buffer): boolean {
  if (point.length !== 65 || point[0] !== 0x04) return false;
  const x = toBigInt(point.subarray(1, 33));
  const y = toBigInt(point.subarray(33, 65));
  if (x >= P || y >= P) return false;
  const right = (((((x * x) % P) * x) % P) - ((3n * x) % P) + B + P) % P;
  return (y * y) % P === right;
}
