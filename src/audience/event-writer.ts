import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BACKSTOP_PAGES } from '../db/checkpointer';
import { isPostgres, type Db } from '../db/connection';
import type { Logger } from '../logger';
import { stopThread, threadEntry } from '../threads';
import type { EventValues, EventWriterData, WriterReport, WriterRequest } from './event-writer-thread';

export type { EventValues } from './event-writer-thread';

const CLOSE_TIMEOUT_MS = 5000;

/**
 * Inserts events on SQLite from a thread of their own. Inserting a batch of 100 events into the
 * events table and its indexes takes about half a millisecond, more than the rest of
 * POST /api/v1/events together; on the event loop it held up every other request for that long.
 * The thread has its own connection to the same file (WAL: the event loop's reads go on meanwhile;
 * SQLite still takes one write transaction at a time, and each waits for the other up to
 * busy_timeout). write() resolves once the rows are committed, as a write on the event loop would.
 * The thread starts with the first write. One that dies fails its waiting writes (the request gets
 * a 500; a batch is all or nothing, but one whose commit ended just before the death is stored
 * although its request failed, so a retry without an Idempotency-Key may store it twice), and the
 * next write starts a new thread.
 */
export interface EventWriter {
  write(rows: EventValues[]): Promise<void>;
  close(): Promise<void>;
  /** The thread, while it runs (tests stop it to see a death handled). */
  readonly thread: Worker | undefined;
}

/** The SQLite file behind `db`, when it is one (not PostgreSQL, not in memory). */
export function sqliteFile(db: Db): string | undefined {
  if (isPostgres(db)) return undefined;
  const filename = (db.client.config.connection as { filename?: string } | undefined)?.filename;
  if (!filename || filename === ':memory:' || filename.startsWith('file::memory:')) return undefined;
  return path.resolve(filename);
}

export function createEventWriter(filename: string, logger: Logger): EventWriter {
  const entry = threadEntry(__dirname, 'event-writer-thread.js');
  let worker: Worker | undefined;
  let closing = false;
  let nextId = 1;
  let batch: Array<[number, EventValues[]]> = [];
  let flushing = false;
  const waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();

  const settle = (report: WriterReport) => {
    for (const id of report.ids) {
      const waiter = waiting.get(id);
      waiting.delete(id);
      if (report.type === 'done') waiter?.resolve();
      else waiter?.reject(new Error(`The events could not be stored: ${report.message}`));
    }
  };
  const start = (): Worker => {
    const thread = new Worker(entry, { name: 'event-writer', workerData: { filename, autocheckpointPages: BACKSTOP_PAGES } satisfies EventWriterData, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    thread.unref();
    let failure: Error | undefined;
    thread.on('message', settle);
    thread.on('error', (error) => (failure = error));
    thread.on('exit', (code) => {
      if (worker === thread) worker = undefined;
      if (waiting.size > 0 || !closing) {
        if (!closing) logger.error({ err: failure, code, waiting: waiting.size }, 'The event writer thread stopped; the next batch of events starts a new one');
        for (const [id, waiter] of [...waiting]) {
          waiting.delete(id);
          waiter.reject(new Error(`The event writer stopped (${failure?.message ?? `exit code ${code}`}) before the events were stored`));
        }
      }
    });
    return thread;
  };
  const flush = () => {
    flushing = false;
    const batches = batch;
    batch = [];
    worker ??= start();
    worker.postMessage({ type: 'write', batches } satisfies WriterRequest);
  };

  return {
    write(rows) {
      if (closing) return Promise.reject(new Error('The event writer is closed'));
      const id = nextId++;
      batch.push([id, rows]);
      if (!flushing) {
        flushing = true;
        // Everything written in one turn of the event loop goes to the thread as one message.
        setImmediate(flush);
      }
      return new Promise<void>((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    async close() {
      closing = true;
      if (flushing) flush();
      if (worker) await stopThread(worker, { type: 'close' } satisfies WriterRequest, CLOSE_TIMEOUT_MS);
    },
    get thread() {
      return worker;
    },
  };
}
