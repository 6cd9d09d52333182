import crypto from 'node:crypto';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { readZip } from '../helpers/package';
import { runCompiled, stopProcess, type Running } from '../helpers/process';
import { API_KEY, AUTH_SECRET, PUSH_ID, REPO_ROOT, tempDir } from '../helpers/service';

describe('npm run apns:dev with the real service', () => {
  let database: TestDatabase;
  const children: Running[] = [];
  beforeAll(() => {
    database = createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await Promise.all(children.map(stopProcess));
    await database.drop();
  });

  test('when a new user sends through the stand-in, then the good token is sent and the dead one is cleaned', async () => {
    const env = {
      DATA_DIR: tempDir(),
      API_KEYS: API_KEY,
      AUTH_TOKEN_SECRET: AUTH_SECRET,
      LOG_LEVEL: 'info',
      ...database.env,
    };
    const apns = await runCompiled('apns-stand-in/cli.js', ['--port', '0'], { ...env, NODE_EXTRA_CA_CERTS: '' }, /listening on https:\/\/127\.0\.0\.1:(\d+)/);
    children.push(apns);
    // The same wiring a user is told to use: APNS_HOST/APNS_PORT and NODE_EXTRA_CA_CERTS.
    const service = await runCompiled(
      'server.js',
      [],
      {
        ...env,
        PORT: '0',
        HOST: '127.0.0.1',
        APNS_HOST: 'localhost',
        APNS_PORT: apns.match[1],
        APNS_RETRY_BASE_MS: '5',
        NODE_EXTRA_CA_CERTS: path.join(REPO_ROOT, 'test/fixtures/apns-stand-in/ca.pem'),
      },
      /"port":(\d+)/,
    );
    children.push(service);
    const base = `http://127.0.0.1:${service.match[1]}`;

    const pkg = await fetch(`${base}/v2/pushPackages/${PUSH_ID}`, { method: 'POST', body: '{"userId":"newcomer"}', headers: { 'content-type': 'application/json' } });
    expect(pkg.status).toBe(200);
    const good = crypto.randomBytes(32).toString('hex');
    const dead = `dead${crypto.randomBytes(30).toString('hex')}`;
    const admin = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    // Register the way Safari does, with the token inside the package the running service made.
    const files = await readZip(Buffer.from(await pkg.arrayBuffer()));
    const authToken = (JSON.parse(files.get('website.json')!.toString()) as { authenticationToken: string }).authenticationToken;
    for (const token of [good, dead]) {
      const res = await fetch(`${base}/v2/devices/${token}/registrations/${PUSH_ID}`, { method: 'POST', headers: { authorization: `ApplePushNotifications ${authToken}` } });
      expect(res.status).toBe(200);
    }

    const sent = await fetch(`${base}/api/v1/notifications?wait=true`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ title: 'Hello', body: 'From the stand-in', urlArgs: ['a', 'b'], to: { users: ['newcomer'] } }),
    });
    const summary = (await sent.json()) as { status: string; counts: Record<string, number> };
    expect(summary).toMatchObject({ status: 'completed', counts: { targeted: 2, sent: 1, removed: 1, failed: 0 } });
    expect((await fetch(`${base}/api/v1/devices/${dead}`, { headers: admin })).status).toBe(404);
    expect((await fetch(`${base}/api/v1/devices/${good}`, { headers: admin })).status).toBe(200);
    expect(apns.output()).toMatch(/410 Unregistered topic=web\.com\.example token=dead/);
    expect(apns.output()).toMatch(/200 +topic=web\.com\.example .*auth=certificate title="Hello"/);
  });
});
