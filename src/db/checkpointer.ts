import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger';
import { stopThread, threadEntry } from '../threads';
import type { CheckpointThreadData } from './checkpoint-thread';
import { isPostgres, type Db } from './connection';

/** WAL pages after which the event loop's own connection checkpoints, as a backstop (about 8 MB). */
export const BACKSTOP_PAGES = 2000;
/** SQLite's own threshold, restored if the thread stops. */
const SQLITE_DEFAULT_PAGES = 1000;
/** How long close() waits for a checkpoint in progress before it stops the thread. */
const CLOSE_TIMEOUT_MS = 5000;

export interface WalCheckpointer {
  /** The thread, while it runs. */
  readonly thread: Worker | undefined;
  close(): Promise<void>;
}

/**
 * Moves most of SQLite's WAL checkpointing off the event loop. By default the connection whose
 * commit takes the WAL past 1,000 pages copies them all into the database file and fsyncs it,
 * there and then: on the event loop, a stall of milliseconds every few hundred registrations.
 * Here a thread with its own connection checkpoints every few milliseconds while writes come in,
 * and the event loop's connection checkpoints only past BACKSTOP_PAGES. By then the thread has
 * usually copied most of the WAL, so that checkpoint is short, and it lets the next write start
 * the WAL over, which keeps the file bounded. If the thread stops, SQLite's default threshold is
 * restored.
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
  await db.raw(`PRAGMA wal_autocheckpoint = ${Math.trunc(options.backstopPages ?? BACKSTOP_PAGES)}`);
  const workerData: CheckpointThreadData = {
    filename: path.resolve(filename),
    busyIntervalMs: options.busyIntervalMs ?? 25,
    idleIntervalMs: options.idleIntervalMs ?? 250,
  };
  const thread = new Worker(threadEntry(__dirname, 'checkpoint-thread.js'), { workerData, resourceLimits: { maxOldGenerationSizeMb: 16 } });
  // An idle checkpointer does not keep the process alive.
  thread.unref();
  let running = true;
  let closing = false;
  let failure: Error | undefined;
  thread.on('error', (error) => (failure = error));
  thread.on('exit', (code) => {
    running = false;
    if (closing) return;
    logger.error({ err: failure, code }, `WAL checkpoint thread stopped: the event loop's connection checkpoints every ${SQLITE_DEFAULT_PAGES} pages again`);
    db.raw(`PRAGMA wal_autocheckpoint = ${SQLITE_DEFAULT_PAGES}`).catch((error: unknown) => logger.error({ err: error }, 'Could not restore wal_autocheckpoint'));
  });
  return {
    get thread() {
      return running ? thread : undefined;
    },
    async close() {
      closing = true;
      // A checkpoint in progress finishes first; one stuck (a hung fsync) does not hold up shutdown.
      if (running) await stopThread(thread, 'close', CLOSE_TIMEOUT_MS);
    },
  };
}
