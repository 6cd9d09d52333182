import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loadConfig } from '../src/config/load';
import { createLogger } from '../src/logger';
import { start, type RunningService } from '../src/server';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { API_KEY, AUTH_SECRET, LogCapture, PUSH_ID, REPO_ROOT, tempDir } from './helpers/service';

describe('the running server', () => {
  let database: TestDatabase;
  let service: RunningService;
  let base: string;
  const logs = new LogCapture();

  beforeAll(async () => {
    database = createTestDatabase('postgres');
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: tempDir(),
      PUSH_PACKAGE_DIR: path.join(REPO_ROOT, 'package-raw'),
      API_KEYS: API_KEY,
      AUTH_TOKEN_SECRET: AUTH_SECRET,
      ...database.env,
    });
    service = await start(config, createLogger('info', logs));
    base = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await service.stop();
    await database.drop();
  });

  test('when Safari registers over real HTTP, then the request log holds neither the token nor the full device token', async () => {
    const pkg = await fetch(`${base}/v2/pushPackages/${PUSH_ID}`, { method: 'POST', body: '{"userId":"erin"}', headers: { 'content-type': 'application/json' } });
    expect(pkg.status).toBe(200);
    const token = service.context.authTokens.mint('erin');
    const device = crypto.randomBytes(32).toString('hex');
    const res = await fetch(`${base}/v2/devices/${device}/registrations/${PUSH_ID}`, {
      method: 'POST',
      headers: { authorization: `ApplePushNotifications ${token}` },
    });
    expect(res.status).toBe(200);
    const admin = await fetch(`${base}/api/v1/devices/${device}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(admin.status).toBe(200);

    const written = logs.raw.join('\n');
    expect(written).toContain(`/v2/devices/${device.slice(0, 8)}…/registrations/${PUSH_ID}`);
    expect(written).not.toContain(device);
    expect(written).not.toContain(token);
    expect(written).not.toContain(API_KEY);
  });

  test('when a profile is read and erased over real HTTP, then the request log holds no part of the user id', async () => {
    const userId = 'ada-lovelace-1815';
    const auth = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    expect((await fetch(`${base}/api/v1/users/${userId}`, { method: 'PUT', headers: auth, body: '{"attributes":{"a":1}}' })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/users/${userId}/export`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/users/${userId}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    const written = logs.raw.join('\n');
    expect(written).toContain('/api/v1/users/…/export');
    expect(written).not.toContain('ada-love');
  });
});
