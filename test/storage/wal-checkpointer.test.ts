import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Knex } from 'knex';
import { BACKSTOP_PAGES, startWalCheckpointer, type WalCheckpointer } from '../../src/db/checkpointer';
import { migrate, openDatabase } from '../../src/db/connection';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { LogCapture } from '../helpers/service';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 40 transactions of 50 new devices: random tokens put nearly every row on a page of its own, about 2,000 WAL pages in all. */
async function writeDevices(db: Knex): Promise<void> {
  for (let t = 0; t < 40; t++) {
    const rows = Array.from({ length: 50 }, () => ({ token: crypto.randomBytes(32).toString('hex'), website_push_id: 'web.com.example', user_id: null, created_at: 1, registered_at: 1 }));
    await db('devices').insert(rows);
  }
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(25)) if (condition()) return true;
  return condition();
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

  const walPages = async () => ((await db.raw('PRAGMA wal_checkpoint(PASSIVE)')) as Array<{ log: number }>)[0].log;

  test('when the event loop commits, then the thread copies the pages into the database file and the event loop\'s connection leaves it to the thread', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs));
    expect(checkpointer?.thread).toBeDefined();
    expect((await db.raw('PRAGMA wal_autocheckpoint')) as unknown).toEqual([{ wal_autocheckpoint: BACKSTOP_PAGES }]);
    const before = fs.statSync(file).size;
    await writeDevices(db);
    // Only a checkpoint writes to the database file itself; the event loop's connection would not before 10,000 pages.
    expect(await until(() => fs.statSync(file).size > before)).toBe(true);
    expect(logs.messages()).toEqual([]);
  });

  test('when no thread runs, then the same writes stay in the WAL: the growth above is the thread\'s doing', async () => {
    await db.raw(`PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    const before = fs.statSync(file).size;
    await writeDevices(db);
    await sleep(500);
    expect(fs.statSync(file).size).toBe(before);
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(4_000_000);
  });

  test('when the thread dies, then it is logged and the backstop still bounds the WAL', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs), { backstopPages: 200 });
    await checkpointer!.thread!.terminate();
    expect(checkpointer!.thread).toBeUndefined();
    expect(logs.messages(50)).toEqual(["WAL checkpoint thread stopped: the event loop's connection checkpoints every 200 pages instead"]);
    await writeDevices(db);
    // About 2,000 pages were written, but the WAL started over each time it passed 200 (plus one transaction).
    expect(fs.statSync(`${file}-wal`).size).toBeLessThan(2_000_000);
    expect(await walPages()).toBeLessThan(300);
  });

  test('when closed, then the thread ends and the database stays usable', async () => {
    checkpointer = await startWalCheckpointer(db, createLogger('info', logs));
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
