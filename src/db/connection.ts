import crypto from 'node:crypto';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { ensurePrivateDir, ensurePrivateFile } from '../files';
import type { Logger } from '../logger';
import { migrationSource } from './migrations';

// Timestamps are stored as bigint milliseconds; pg returns int8 as strings unless told otherwise.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export type Db = Knex;

/** Opens the database named by a `sqlite:PATH` or `postgres://` URL. */
export function openDatabase(url: string, schema?: string, logger?: Pick<Logger, 'warn'>): Db {
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length);
    if (filename !== ':memory:') {
      // The file holds Web Push auth secrets: owner only (its -wal and -shm files take its mode).
      ensurePrivateDir(path.dirname(path.resolve(filename)));
      const was = ensurePrivateFile(filename);
      if (was !== undefined) logger?.warn({ file: filename, mode: was.toString(8) }, 'The SQLite file was readable by others; it is now 0600');
    }
    return knex({
      client: 'better-sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      // Errors must not carry bound values (device tokens, user ids, notification text) into logs.
      compileSqlOnError: false,
      pool: {
        afterCreate(conn: { pragma(sql: string): unknown; function(name: string, options: { deterministic: boolean }, fn: (value: unknown) => number | null): unknown }, done: (err: Error | null, conn: unknown) => void) {
          // What PostgreSQL computes with md5() (bucketSql): the same bucket for the same key on both.
          conn.function('sp_bucket', { deterministic: true }, (value) => (typeof value === 'string' ? bucketOf(value) : null));
          // WAL lets readers proceed during writes; busy_timeout waits instead of failing on a locked file.
          conn.pragma('journal_mode = WAL');
          conn.pragma('busy_timeout = 5000');
          conn.pragma('synchronous = NORMAL');
          done(null, conn);
        },
      },
    });
  }
  return knex({
    client: 'pg',
    connection: url,
    compileSqlOnError: false,
    searchPath: schema ? [schema] : undefined,
    pool: { min: 0, max: 10 },
  });
}

/** Brings the schema up to date; safe to run from several instances at once (knex takes a lock). */
export async function migrate(db: Db, schema?: string): Promise<void> {
  if (schema) await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  await db.migrate.latest({ migrationSource });
}

/** Buckets of a deterministic split (control groups, A/B variants): 0 to BUCKETS - 1. */
export const BUCKETS = 10_000;

/** The bucket of a key: the first 32 bits of its MD5, modulo BUCKETS (a split, not a secret). */
export function bucketOf(key: string): number {
  return Number.parseInt(crypto.createHash('md5').update(key, 'utf8').digest('hex').slice(0, 8), 16) % BUCKETS;
}

/**
 * SQL for bucketOf(prefix || key), where `keySql` is an SQL text expression and the prefix a bound
 * value: md5() on PostgreSQL, the sp_bucket function openDatabase registers on SQLite.
 */
export function bucketSql(db: Db, keySql: string): string {
  return isPostgres(db) ? `((('x' || lpad(substr(md5(? || ${keySql}), 1, 8), 16, '0'))::bit(64)::bigint) % ${BUCKETS})` : `sp_bucket(? || ${keySql})`;
}

/** True when the client is PostgreSQL. */
export function isPostgres(db: Db): boolean {
  return db.client.config.client === 'pg';
}

interface SqliteConnection {
  prepare(sql: string): { run(...params: unknown[]): { changes: number } };
  transaction(fn: () => void): () => void;
}

interface Waiting {
  params: unknown[];
  resolve(changes: number): void;
  reject(error: unknown): void;
}

/**
 * Runs one fixed statement many times, for hot paths. On SQLite the statement is prepared once
 * per connection, and calls that arrive together are committed together: every call waiting when
 * the event loop comes round runs in one transaction (group commit), so each caller still resolves
 * only once its row is durable, but a burst pays for one WAL commit instead of one per row. On
 * PostgreSQL each call goes through knex.raw. Only for SQL both dialects accept as written.
 * Resolves with the number of rows the call changed.
 */
export function hotStatement(db: Db, sql: string): (params: unknown[]) => Promise<number> {
  if (isPostgres(db)) {
    return async (params) => {
      const result = (await db.raw(sql, params as Knex.RawBinding[])) as { rowCount: number | null };
      return result.rowCount ?? 0;
    };
  }
  const prepared = new WeakMap<SqliteConnection, { run(...params: unknown[]): { changes: number } }>();
  const waiting: Waiting[] = [];
  let scheduled = false;

  const flush = async () => {
    scheduled = false;
    const batch = waiting.splice(0);
    let connection: SqliteConnection | undefined;
    try {
      connection = (await db.client.acquireConnection()) as SqliteConnection;
      let statement = prepared.get(connection);
      if (!statement) {
        statement = connection.prepare(sql);
        prepared.set(connection, statement);
      }
      const failures = new Map<Waiting, unknown>();
      const changes = new Map<Waiting, number>();
      const run = statement;
      // A failing statement rolls back only itself; the others in the batch still commit.
      connection.transaction(() => {
        for (const call of batch) {
          try {
            changes.set(call, run.run(...call.params).changes);
          } catch (error) {
            failures.set(call, error);
          }
        }
      })();
      for (const call of batch) {
        if (failures.has(call)) call.reject(failures.get(call));
        else call.resolve(changes.get(call) ?? 0);
      }
    } catch (error) {
      batch.forEach((call) => call.reject(error));
    } finally {
      if (connection) await db.client.releaseConnection(connection);
    }
  };

  return (params) =>
    new Promise<number>((resolve, reject) => {
      waiting.push({ params, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    });
}
