import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { BACKSTOP_PAGES, startWalCheckpointer, type WalCheckpointer } from '../../src/db/checkpointer';
import { migrate, openDatabase } from '../../src/db/connection';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { LogCapture } from '../helpers/service';
import { sleep, waitFor } from '../helpers/wait';

/** `transactions` of 50 new devices each: random tokens put most rows on an index page of their own. */
async function writeDevices(db: Knex, transactions = 40): Promise<void> {
  for (let t = 0; t < transactions; t++) {
    const rows = Array.from({ length: 50 }, () => ({ token: crypto.randomBytes(32).toString('hex'), website_push_id: 'web.com.example', user_id: null, created_at: 1, registered_at: 1 }));
    await db('devices').insert(rows);
  }
}

describe('WAL checkpoint thread (SQLite)', () => {
  let database: TestDatabase;
  let db: Knex;
  let file: string;
  let logs: LogCapture;
  let checkpointer: WalCheckpointer | undefined;

  beforeEach(async () => {
    database = createTestDatabase('sqlite');
    file = database.env.DATABASE_URL.slice('sqlite:'.length);
    db = openDatabase(database.env.DATABASE_URL);
    await migrate(db);
    // Start from an empty WAL, so every page the test finds in the database file was copied there during the test.
    await db.raw('PRAGMA wal_checkpoint(TRUNCATE)');
    logs = new LogCapture();
    checkpointer = undefined;
  });

  afterEach(async () => {
    await checkpointer?.close();
    await db.destroy();
    await database.drop();
  });

  const autocheckpoint = async () => ((await db.raw('PRAGMA wal_autocheckpoint')) as Array<{ wal_autocheckpoint: number }>)[0].wal_autocheckpoint;
  const walPages = async () => ((await db.raw('PRAGMA wal_checkpoint(PASSIVE)')) as Array<{ log: number }>)[0].log;

  test('when the event loop commits, then the thread copies the pages into the database file and the event loop\'s connection leaves it to the thread', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs), { backstopPages: 10_000 });
    expect(checkpointer?.thread).toBeDefined();
    expect(await autocheckpoint()).toBe(10_000);
    const before = fs.statSync(file).size;
    await writeDevices(db);
    // Only a checkpoint writes to the database file itself; the event loop's connection would not before 10,000 pages.
    await waitFor(() => fs.statSync(file).size > before, 'the thread to copy pages into the database file');
    expect(logs.messages()).toEqual([]);
  });

  test('when no thread runs, then the same writes stay in the WAL: the growth above is the thread\'s doing', async () => {
    await db.raw('PRAGMA wal_autocheckpoint = 10000');
    const before = fs.statSync(file).size;
    await writeDevices(db);
    await sleep(500);
    expect(fs.statSync(file).size).toBe(before);
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(4_000_000);
  });

  test('when writes keep coming, then the WAL stays bounded near the backstop', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs), { backstopPages: 300 });
    // 15,000 new devices: without any checkpoint this WAL grows to about 80 MB (19,000 pages).
    await writeDevices(db, 300);
    // The -wal file never shrinks, so its size is the peak: well under 1,500 pages of 4 KB.
    expect(fs.statSync(`${file}-wal`).size).toBeLessThan(1500 * 4120);
  });

  test('when the thread dies, then it is logged and SQLite\'s own threshold is back on the event loop\'s connection', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs), { backstopPages: 10_000 });
    await checkpointer!.thread!.terminate();
    expect(checkpointer!.thread).toBeUndefined();
    expect(logs.messages(50)).toEqual(["WAL checkpoint thread stopped: the event loop's connection checkpoints every 1000 pages again"]);
    await waitFor(async () => (await autocheckpoint()) === 1000, 'wal_autocheckpoint back at 1000');
    await writeDevices(db);
    // About 2,000 pages were written, but the WAL started over each time it passed 1,000 (plus one transaction).
    expect(await walPages()).toBeLessThan(1100);
  });

  test('when closed, then the thread ends and the database stays usable', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs));
    expect(await autocheckpoint()).toBe(BACKSTOP_PAGES);
    const thread = checkpointer!.thread!;
    const exited = new Promise<number>((resolve) => thread.once('exit', resolve));
    await checkpointer!.close();
    expect(await exited).toBe(0);
    expect(checkpointer!.thread).toBeUndefined();
    await writeDevices(db);
    expect(Number(((await db('devices').count({ n: '*' })) as Array<{ n: number }>)[0].n)).toBe(2000);
    expect(logs.messages()).toEqual([]);
  });
});

describe('WAL checkpoint thread elsewhere', () => {
  test('when the database is PostgreSQL, then there is nothing to start', async () => {
    const database = createTestDatabase('postgres');
    const db = openDatabase(database.env.DATABASE_URL, database.env.DATABASE_SCHEMA);
    try {
      expect(await startWalCheckpointer(db, createLogger('silent'))).toBeUndefined();
    } finally {
      await db.destroy();
      await database.drop();
    }
  });
});
