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
 * database file, so the copying and its fsyncs happen beside the event loop instead of inside
 * whichever commit crosses SQLite's threshold. PASSIVE checkpoints never take the write lock and
 * never wait: what a reader still uses, or a writer adds meanwhile, is left for the next round.
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
