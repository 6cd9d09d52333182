const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Width and height from a PNG's IHDR chunk, or undefined when the bytes are not a PNG.
 * Safari turns the icons into an ICNS file and fails on malformed ones ("Unable to generate ICNS file").
 */
export function pngSize(data: Buffer): { width: number; height: number } | undefined {
  // Signature (8) + chunk length (4) + "IHDR" (4) + width (4) + height (4).
  if (data.length < 24 || !data.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (data.toString('ascii', 12, 16) !== 'IHDR') return undefined;
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}
