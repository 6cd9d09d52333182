import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import type { Clock } from '../../src/clock';
import { loadConfig } from '../../src/config/load';
import { closeContext, createContext, type AppContext } from '../../src/context';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type BackendName, type TestDatabase } from './databases';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const API_KEY = 'test-api-key-0123456789';
export const AUTH_SECRET = 'test-auth-token-secret-0123456789abcdef';
export const PUSH_ID = 'web.com.example';

/** Collects every log line a service writes, parsed, for assertions about what is (not) logged. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
  messages(level?: number): string[] {
    return this.lines.filter((line) => level === undefined || line.level === level).map((line) => String(line.msg));
  }
}

export interface TestService {
  app: Express;
  context: AppContext;
  logs: LogCapture;
  dataDir: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A fresh data folder with nothing generated yet. */
export function tempDir(prefix = 'safari-push-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The real app on a real database, configured the way a deployment would be: through environment
 * variables parsed by the real config loader. Extra `env` entries override the defaults.
 */
export async function buildService(
  database: TestDatabase,
  env: Record<string, string | undefined> = {},
  options: { clock?: Clock } = {},
): Promise<TestService> {
  const dataDir = env.DATA_DIR ?? tempDir();
  const fullEnv = {
    DATA_DIR: dataDir,
    PUSH_PACKAGE_DIR: path.join(REPO_ROOT, 'package-raw'),
    API_KEYS: API_KEY,
    AUTH_TOKEN_SECRET: AUTH_SECRET,
    LOG_LEVEL: 'debug',
    ...database.env,
    ...env,
  };
  const logs = new LogCapture();
  const context = await createContext(loadConfig(fullEnv), createLogger('debug', logs), 'api', options.clock);
  return {
    app: createApp(context),
    context,
    logs,
    dataDir,
    env: Object.fromEntries(Object.entries(fullEnv).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    close: () => closeContext(context),
  };
}

/** One database and one service per test file, for a backend. */
export function useService(backend: BackendName, env: Record<string, string | undefined> = {}) {
  const state: { service?: TestService; database?: TestDatabase } = {};
  beforeAll(async () => {
    state.database = createTestDatabase(backend);
    state.service = await buildService(state.database, env);
  });
  afterAll(async () => {
    await state.service?.close();
    await state.database?.drop();
  });
  return {
    get service(): TestService {
      if (!state.service) throw new Error('service not built yet');
      return state.service;
    },
    get database(): TestDatabase {
      if (!state.database) throw new Error('database not created yet');
      return state.database;
    },
  };
}
