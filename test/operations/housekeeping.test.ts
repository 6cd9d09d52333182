import fs from 'node:fs';
import path from 'node:path';
import { manualClock } from '../../src/clock';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { buildService, tempDir, type TestService } from '../helpers/service';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

describe.each(BACKENDS)('retention and per-day counts (%s)', (backend) => {
  const clock = manualClock(NOW);
  let database: TestDatabase;
  let service: TestService;

  beforeAll(async () => {
    database = createTestDatabase(backend);
    service = await buildService(database, { LOG_RETENTION_DAYS: '7' }, { clock });
    // The rounds are driven by hand here: the timed first round (a second after start) would race
    // the counts on a slow machine. runOnce still works once the timers are stopped.
    await service.context.housekeeping!.stop();
  });
  afterAll(async () => {
    await service?.close();
    await database?.drop();
  });

  const meta = (now: number) => ({ clientIp: '203.0.113.1', userAgent: 'Safari', now });

  test('when Safari log messages are older than LOG_RETENTION_DAYS, then a housekeeping round deletes them and keeps the rest', async () => {
    const { logs } = service.context;
    await logs.add(['old one', 'old two'], meta(NOW - 8 * DAY));
    await logs.add(['on the edge'], meta(NOW - 7 * DAY + 1000));
    await logs.add(['fresh'], meta(NOW - 1000));
    const result = await service.context.housekeeping!.runOnce();
    expect(result.logs).toBe(2);
    expect((await logs.list({ limit: 10 })).items.map((l) => l.message).sort()).toEqual(['fresh', 'on the edge']);
  });

  test('when there are more expired messages than one slice, then all of them go', async () => {
    const { logs } = service.context;
    for (let i = 0; i < 30; i++) await logs.add(Array.from({ length: 400 }, (_, j) => `bulk ${i}-${j}`), meta(NOW - 30 * DAY));
    expect((await service.context.housekeeping!.runOnce()).logs).toBe(12_000);
  });

  test('when Idempotency-Keys are older than 24 hours, then they are deleted', async () => {
    const store = service.context.idempotency;
    await store.claim('test', 'old-key', 'h', NOW - DAY - 1);
    await store.claim('test', 'new-key', 'h', NOW - 1000);
    expect((await service.context.housekeeping!.runOnce()).idempotencyKeys).toBe(1);
    expect((await service.context.db('idempotency_keys').where({ scope: 'test' }).select('key')).map((r: { key: string }) => r.key)).toEqual(['new-key']);
  });

  test('when one message is logged at several times of two days, then the summary counts two days (not one "day" per timestamp)', async () => {
    const day1 = Date.parse('2026-11-29T00:00:00Z');
    const { logs } = service.context;
    for (const at of [day1 + 1000, day1 + 3_600_000, day1 + 20 * 3_600_000, day1 + DAY + 5, day1 + DAY + 7_200_000]) await logs.add(['per-day message'], meta(at));
    const [item] = (await logs.summary({ since: day1 - DAY, limit: 50 })).filter((s) => s.message === 'per-day message');
    expect(item.count).toBe(5);
    expect(item.perDay).toEqual([
      { day: '2026-11-29', count: 3 },
      { day: '2026-11-30', count: 2 },
    ]);
  });
});

describe('the SQLite file holds secrets', () => {
  test('when the service creates its database, then the folder is 0700 and the file 0600; a file that was readable by others is tightened with a warning', async () => {
    const dir = path.join(tempDir(), 'nested', 'db');
    const file = path.join(dir, 'push.sqlite');
    const database: TestDatabase = { env: { DATABASE_URL: `sqlite:${file}` }, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
    let service = await buildService(database);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    await service.close();
    fs.chmodSync(file, 0o644);
    service = await buildService(database);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(service.logs.messages(40)).toContain('The SQLite file was readable by others; it is now 0600');
    await service.close();
    await database.drop();
  });

  test('when development secrets are generated, then DATA_DIR is created 0700', async () => {
    const dataDir = path.join(tempDir(), 'fresh-data');
    const database = createTestDatabase('sqlite');
    const service = await buildService(database, { DATA_DIR: dataDir, API_KEYS: undefined, AUTH_TOKEN_SECRET: undefined });
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dataDir, 'dev-secrets.json')).mode & 0o777).toBe(0o600);
    await service.close();
    await database.drop();
  });
});
