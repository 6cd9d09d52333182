import type { Knex } from 'knex';
import Database from 'better-sqlite3';
import { createEventWriter, type EventValues, type EventWriter } from '../../src/audience/event-writer';
import { migrate, openDatabase } from '../../src/db/connection';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { LogCapture } from '../helpers/service';
import { waitFor } from '../helpers/wait';

/** The SQLite event writer thread on a real file: what it commits, what it refuses, how it dies. */
describe('event writer thread (SQLite)', () => {
  let database: TestDatabase;
  let db: Knex;
  let file: string;
  let logs: LogCapture;
  let writer: EventWriter;

  beforeEach(async () => {
    database = createTestDatabase('sqlite');
    file = database.env.DATABASE_URL.slice('sqlite:'.length);
    db = openDatabase(database.env.DATABASE_URL);
    await migrate(db);
    logs = new LogCapture();
    writer = createEventWriter(file, createLogger('info', logs));
  });

  afterEach(async () => {
    await writer.close();
    await db.destroy();
    await database.drop();
  });

  const row = (name: string, user: string, time = 1_000): EventValues => [name, user, null, time, JSON.stringify({ n: 1 }), null, 5];
  const stored = async () => (await db('events').orderBy('id').select('name', 'user_id', 'time', 'properties', 'created_at')) as Array<{ name: string; user_id: string; time: number; properties: string; created_at: number }>;

  test('when many batches are written at once, then every row is committed once, in order, before each write resolves', async () => {
    // 150 rows in one batch: more than one INSERT of 100.
    const batches = Array.from({ length: 30 }, (_, b) => Array.from({ length: b === 0 ? 150 : 10 }, (_, i) => row(`e${b}`, `u${i}`, b * 1000 + i)));
    await Promise.all(batches.map((rows) => writer.write(rows)));
    const rows = await stored();
    expect(rows).toHaveLength(150 + 29 * 10);
    expect(rows[0]).toEqual({ name: 'e0', user_id: 'u0', time: 0, properties: '{"n":1}', created_at: 5 });
    expect(rows.filter((r) => r.name === 'e7').map((r) => r.time)).toEqual(Array.from({ length: 10 }, (_, i) => 7000 + i));
  });

  test('when one batch of a transaction cannot be stored, then it alone is refused and the others are committed', async () => {
    const bad = [row('ok-in-bad', 'u1'), [null, 'u2', null, 1, null, null, 5] as unknown as EventValues];
    const results = await Promise.allSettled([writer.write([row('first', 'u1')]), writer.write(bad), writer.write([row('last', 'u1')])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/could not be stored: NOT NULL constraint failed: events.name/);
    // The bad batch is all or nothing: its good row is not there either.
    expect((await stored()).map((r) => r.name)).toEqual(['first', 'last']);
  });

  test('when the thread dies with a write waiting, then that write fails, nothing of it is stored, and the next write starts a new thread', async () => {
    await writer.write([row('before', 'u1')]);
    const first = writer.thread!;
    // Dies before it takes the write (a thread stopped inside a SQLite call would take the process with it).
    const waiting = writer.write([row('lost', 'u1')]);
    void first.terminate();
    await expect(waiting).rejects.toThrow(/event writer stopped/);
    await writer.write([row('after', 'u1')]);
    expect(writer.thread).toBeDefined();
    expect(writer.thread).not.toBe(first);
    expect((await stored()).map((r) => r.name)).toEqual(['before', 'after']);
    await waitFor(() => logs.messages().some((message) => message.includes('event writer thread stopped')), 'the log line');
  });

  test('when another connection holds the write lock for a while, then the write waits for it and is committed', async () => {
    const holder = new Database(file);
    holder.exec('BEGIN IMMEDIATE');
    const waiting = writer.write([row('waited', 'u1')]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stored()).toEqual([]);
    holder.exec('COMMIT');
    holder.close();
    await waiting;
    expect((await stored()).map((r) => r.name)).toEqual(['waited']);
  });

  test('when closed, then writes waiting are committed first and later writes are refused', async () => {
    const pending = writer.write([row('pending', 'u1')]);
    await writer.close();
    await pending;
    expect((await stored()).map((r) => r.name)).toEqual(['pending']);
    await expect(writer.write([row('late', 'u1')])).rejects.toThrow(/closed/);
  });
});
