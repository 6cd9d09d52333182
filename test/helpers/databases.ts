import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knex from 'knex';

/** PostgreSQL for the tests: CI's server, overridable. */
export const TEST_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh, empty database for one test: an SQLite file, or a PostgreSQL schema of its own. */
export interface TestDatabase {
  env: { DATABASE_URL: string; DATABASE_SCHEMA?: string };
  drop(): Promise<void>;
}

export type BackendName = 'sqlite' | 'postgres';

/** Both storage backends; suites run once per backend with `describe.each(BACKENDS)`. */
export const BACKENDS: BackendName[] = ['sqlite', 'postgres'];

export function createTestDatabase(backend: BackendName): TestDatabase {
  if (backend === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safari-push-db-'));
    return {
      env: { DATABASE_URL: `sqlite:${path.join(dir, 'push.sqlite')}` },
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
  return {
    env: { DATABASE_URL: TEST_POSTGRES_URL, DATABASE_SCHEMA: schema },
    async drop() {
      const db = knex({ client: 'pg', connection: TEST_POSTGRES_URL });
      try {
        await db.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      } finally {
        await db.destroy();
      }
    },
  };
}
