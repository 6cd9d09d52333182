import fs from 'node:fs';
import path from 'node:path';

/**
 * The compiled body of a worker thread, `file` in the caller's directory (`callerDir`, its
 * `__dirname`). Threads always run compiled code: when the tests run the TypeScript sources, the
 * entry is taken from dist/ (npm test builds first).
 */
export function threadEntry(callerDir: string, file: string): string {
  // This file sits at the root of src/, or of dist/src/ once compiled.
  const compiledRoot = __filename.endsWith('.ts') ? path.resolve(__dirname, '../dist/src') : __dirname;
  const entry = path.join(compiledRoot, path.relative(__dirname, callerDir), file);
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run npm run build`);
  return entry;
}
