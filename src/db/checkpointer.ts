import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger';
import { threadEntry } from '../thread-entry';
import type { CheckpointThreadData } from './checkpoint-thread';
import { isPostgres, type Db } from './connection';

/** WAL pages after which the event loop's own connection checkpoints, as a backstop. */
export const BACKSTOP_PAGES = 10_000;

export interface WalCheckpointer {
  /** The thread, while it runs. */
  readonly thread: Worker | undefined;
  close(): Promise<void>;
}

/**
 * Moves SQLite's WAL checkpoints off the event loop. By default the connection whose commit takes
 * the WAL past 1,000 pages copies them into the database file and fsyncs it, there and then: on
 * the event loop, a stall of milliseconds every few hundred registrations. Here a thread with its
 * own connection checkpoints every few milliseconds while writes come in, and the event loop's
 * connection checkpoints only past BACKSTOP_PAGES (40 MB of WAL): by then the thread has copied
 * nearly everything, and that checkpoint lets the next write start the WAL over, which keeps the
 * file bounded. If the thread dies, the backstop still bounds the WAL.
 *
 * Nothing to do for PostgreSQL or an in-memory database (undefined).
 */
export async function startWalCheckpointer(
  db: Db,
  logger: Logger,
  options: { busyIntervalMs?: number; idleIntervalMs?: number; backstopPages?: number } = {},
): Promise<WalCheckpointer | undefined> {
  if (isPostgres(db)) return undefined;
  const filename = (db.client.config.connection as { filename?: string } | undefined)?.filename;
  if (!filename || filename === ':memory:' || filename.startsWith('file::memory:')) return undefined;

  // knex keeps one SQLite connection for the life of the pool: this is the event loop's.
  const backstop = Math.trunc(options.backstopPages ?? BACKSTOP_PAGES);
  await db.raw(`PRAGMA wal_autocheckpoint = ${backstop}`);
  const workerData: CheckpointThreadData = {
    filename: path.resolve(filename),
    busyIntervalMs: options.busyIntervalMs ?? 25,
    idleIntervalMs: options.idleIntervalMs ?? 250,
  };
  let worker: Worker | undefined = new Worker(threadEntry(__dirname, 'checkpoint-thread.js'), { workerData, resourceLimits: { maxOldGenerationSizeMb: 16 } });
  worker.unref();
  let closing = false;
  const thread = worker;
  thread.on('error', (err) => logger.error({ err }, 'WAL checkpoint thread failed'));
  thread.on('exit', (code) => {
    worker = undefined;
    if (!closing) logger.error({ code }, `WAL checkpoint thread stopped: the event loop's connection checkpoints every ${backstop} pages instead`);
  });
  return {
    get thread() {
      return worker;
    },
    async close() {
      closing = true;
      if (!worker) return;
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      thread.postMessage('close');
      await exited;
    },
  };
}
