import type { Knex } from 'knex';
import { migrate, openDatabase } from '../../src/db/connection';
import { migrationSource } from '../../src/db/migrations';
import { createNotificationRepository } from '../../src/notifications/repository';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';

const PUSH_ID = 'web.com.example';

/** Runs `work` and returns the SQL statements (with their bindings) it sent to the database. */
async function capture(db: Knex, work: () => Promise<unknown>): Promise<Array<{ sql: string; bindings: readonly unknown[] }>> {
  const seen: Array<{ sql: string; bindings: readonly unknown[] }> = [];
  const listener = (query: { sql: string; bindings?: readonly unknown[] }) => seen.push({ sql: query.sql, bindings: query.bindings ?? [] });
  db.on('query', listener);
  try {
    await work();
  } finally {
    db.off('query', listener);
  }
  return seen;
}

describe.each(BACKENDS)('schema migrations (%s)', (backend) => {
  let database: TestDatabase;
  let db: Knex;

  beforeEach(async () => {
    database = createTestDatabase(backend);
    db = openDatabase(database.env.DATABASE_URL, database.env.DATABASE_SCHEMA);
    await migrate(db, database.env.DATABASE_SCHEMA);
  });

  afterEach(async () => {
    await db.destroy();
    await database.drop();
  });

  test('when every migration is rolled back and applied again, then the schema comes back and works', async () => {
    await db.migrate.rollback({ migrationSource }, true);
    expect(await db.schema.hasTable('deliveries')).toBe(false);
    await migrate(db, database.env.DATABASE_SCHEMA);
    const [completed] = (await db.migrate.list({ migrationSource })) as [unknown[], unknown[]];
    expect(completed.length).toBeGreaterThanOrEqual(6);
    await db('devices').insert({ channel: 'safari', token: 'a'.repeat(64), website_push_id: PUSH_ID, created_at: 1, registered_at: 1 });
    const notifications = createNotificationRepository(db, PUSH_ID);
    const notification = await notifications.create({ title: 't', body: 'b', urlArgs: [], target: { all: true }, priority: 10 }, Date.now());
    expect(await notifications.planNext(notification.id, 10, Date.now())).toBeDefined();
    expect(await notifications.pendingAfter(notification.id, 0, 10)).toHaveLength(1);
  });

  test('when a send or a restart looks for pending deliveries, then the query uses the partial pending index', async () => {
    const notifications = createNotificationRepository(db, PUSH_ID);
    const statements = await capture(db, () => notifications.pendingAfter('00000000-0000-4000-8000-000000000000', 0, 100));
    const select = statements.find((statement) => /from "?`?deliveries/i.test(statement.sql));
    expect(select).toBeDefined();
    let plan: string;
    if (backend === 'sqlite') {
      const rows = (await db.raw(`EXPLAIN QUERY PLAN ${select!.sql}`, select!.bindings as Knex.RawBinding[])) as Array<{ detail: string }>;
      plan = rows.map((row) => row.detail).join('\n');
    } else {
      // An empty table is cheapest to scan; forbid that so the planner shows which index it can use.
      plan = await db.transaction(async (trx) => {
        await trx.raw('SET LOCAL enable_seqscan = off');
        const result = (await trx.raw(`EXPLAIN ${select!.sql.replace(/\$\d+/g, '?')}`, select!.bindings as Knex.RawBinding[])) as { rows: Array<{ 'QUERY PLAN': string }> };
        return result.rows.map((row) => row['QUERY PLAN']).join('\n');
      });
    }
    expect(plan).toMatch(/deliveries_pending_index/);
  });
});
