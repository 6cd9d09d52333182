import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointThreadData {
  filename: string;
  /** Between checkpoints while writes come in. */
  busyIntervalMs: number;
  /** Between looks at an idle WAL. */
  idleIntervalMs: number;
}

/**
 * The WAL checkpoint thread: its own connection copies committed pages from the WAL into the
 * database file (PASSIVE: it never waits for, or blocks, readers and writers), so the copying and
 * its fsyncs happen beside the event loop instead of inside whichever commit crosses SQLite's
 * threshold.
 */
const { filename, busyIntervalMs, idleIntervalMs } = workerData as CheckpointThreadData;
const db = new Database(filename, { fileMustExist: true });
let lastVersion = -1;
let timer: NodeJS.Timeout | undefined;

function checkpoint(): void {
  db.pragma('wal_checkpoint(PASSIVE)');
  // data_version changes when another connection commits: writes are coming in, so look again soon.
  const version = db.pragma('data_version', { simple: true }) as number;
  const writing = version !== lastVersion;
  lastVersion = version;
  timer = setTimeout(checkpoint, writing ? busyIntervalMs : idleIntervalMs);
}

parentPort!.on('message', (message: 'close') => {
  if (message !== 'close') return;
  clearTimeout(timer);
  db.close();
  parentPort!.close();
});
checkpoint();
