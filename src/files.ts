import fs from 'node:fs';

/**
 * Creates a folder that will hold secrets (keys, the SQLite file with Web Push auth secrets) as
 * 0700. A folder that exists already is left as its owner set it.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Makes `file` exist as 0600 (owner only), tightening it if it was created more open. Returns
 * the mode it had when it was more open than that, for a warning.
 */
export function ensurePrivateFile(file: string): number | undefined {
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  fs.chmodSync(file, 0o600);
  return mode;
}
