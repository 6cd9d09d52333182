import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { readZip } from '../helpers/package';
import { API_KEY, AUTH_SECRET, PUSH_ID, REPO_ROOT, tempDir } from '../helpers/service';

/** Starts a compiled entry point (npm test builds first) and resolves once its output matches `ready`. */
function run(script: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src', script), ...args], { env: { ...process.env, ...env }, cwd: REPO_ROOT });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match) resolve({ child, match, output: () => output });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}:\n${output}`)));
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('npm run apns:dev with the real service', () => {
  let database: TestDatabase;
  const children: ChildProcess[] = [];
  beforeAll(() => {
    database = createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await Promise.all(children.map(stop));
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
    const apns = await run('apns-stand-in/cli.js', ['--port', '0'], { ...env, NODE_EXTRA_CA_CERTS: '' }, /listening on https:\/\/127\.0\.0\.1:(\d+)/);
    children.push(apns.child);
    // The same wiring a user is told to use: APNS_HOST/APNS_PORT and NODE_EXTRA_CA_CERTS.
    const service = await run(
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
    children.push(service.child);
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
