import fs from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';

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

/**
 * Asks a worker thread to finish (`closeMessage`) and waits for it to exit; a thread still running
 * after `timeoutMs` (stuck in a write or an fsync) is terminated, so shutdown is never held up.
 */
export async function stopThread(worker: Worker, closeMessage: unknown, timeoutMs: number): Promise<void> {
  worker.ref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage(closeMessage);
  const timer = setTimeout(() => void worker.terminate(), timeoutMs);
  await exited;
  clearTimeout(timer);
}
