import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * The body of the event writer thread (see event-writer.ts): its own SQLite connection inserts the
 * batches the event loop hands it. Every batch that arrives while one transaction runs goes into
 * the next (group commit); each batch is a savepoint of it, so a batch that fails is refused alone.
 */

export interface EventWriterData {
  filename: string;
  /** WAL pages past which this connection checkpoints itself (the checkpoint thread does it before). */
  autocheckpointPages: number;
}

/** Values of one event row, in COLUMNS order. */
export type EventValues = [name: string, userId: string | null, deviceId: number | null, time: number, properties: string | null, clientIp: string | null, createdAt: number];

export type WriterRequest = { type: 'write'; batches: Array<[id: number, rows: EventValues[]]> } | { type: 'close' };
export type WriterReport = { type: 'done'; ids: number[] } | { type: 'failed'; ids: number[]; message: string };

const COLUMNS = '(name, user_id, device_id, time, properties, client_ip, created_at)';
const WIDTH = 7;
/** Rows per INSERT: 700 parameters, well below SQLite's limit. */
const CHUNK = 100;

function run(): void {
  const port = parentPort;
  if (!port) throw new Error('event-writer-thread.js runs as a worker thread');
  const { filename, autocheckpointPages } = workerData as EventWriterData;
  const db = new Database(filename, { fileMustExist: true });
  // Shorter than the wait of close() (event-writer.ts): a thread must never be terminated inside a
  // SQLite call (better-sqlite3 then aborts the whole process), and a wait for the lock is the one
  // such call that lasts.
  db.pragma('busy_timeout = 2000');
  db.pragma('synchronous = NORMAL');
  db.pragma(`wal_autocheckpoint = ${Math.trunc(autocheckpointPages)}`);
  const statements = new Map<number, Database.Statement>();
  const insert = (count: number) => {
    let statement = statements.get(count);
    if (!statement) {
      statement = db.prepare(`INSERT INTO events ${COLUMNS} VALUES ${Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`);
      statements.set(count, statement);
    }
    return statement;
  };
  const insertBatch = db.transaction((rows: EventValues[]) => {
    for (let from = 0; from < rows.length; from += CHUNK) {
      const chunk = rows.slice(from, from + CHUNK);
      const values = new Array<unknown>(chunk.length * WIDTH);
      chunk.forEach((row, i) => row.forEach((value, j) => (values[i * WIDTH + j] = value)));
      insert(chunk.length).run(values);
    }
  });

  let queue: Array<[number, EventValues[]]> = [];
  let scheduled = false;
  const commit = () => {
    scheduled = false;
    const batches = queue;
    queue = [];
    const done: number[] = [];
    const failed: Array<[number, string]> = [];
    try {
      db.transaction(() => {
        for (const [id, rows] of batches) {
          try {
            insertBatch(rows);
            done.push(id);
          } catch (error) {
            failed.push([id, (error as Error).message]);
          }
        }
      })();
    } catch (error) {
      // The commit itself failed (the disk, a lock held past busy_timeout): nothing was stored.
      port.postMessage({ type: 'failed', ids: batches.map(([id]) => id), message: (error as Error).message } satisfies WriterReport);
      return;
    }
    if (done.length > 0) port.postMessage({ type: 'done', ids: done } satisfies WriterReport);
    for (const [id, message] of failed) port.postMessage({ type: 'failed', ids: [id], message } satisfies WriterReport);
  };

  port.on('message', (request: WriterRequest) => {
    if (request.type === 'close') {
      if (scheduled) commit();
      db.close();
      port.close();
      return;
    }
    queue.push(...request.batches);
    if (!scheduled) {
      scheduled = true;
      // Whatever else is already waiting in the port joins this transaction.
      setImmediate(commit);
    }
  });
}

run();
