import fs from 'node:fs';
import path from 'node:path';
import { runCompiled, stopProcess, type Running } from '../helpers/process';
import { REPO_ROOT, tempDir } from '../helpers/service';

describe('the first start on a fresh clone', () => {
  let running: Running | undefined;
  afterAll(() => stopProcess(running));

  test('when the service starts with nothing configured, then after the JSON logs it prints one plain line with its address, the console URL and where the generated admin key is (not the key)', async () => {
    const dataDir = tempDir();
    running = await runCompiled(
      'server.js',
      [],
      { DATA_DIR: dataDir, DATABASE_URL: `sqlite:${path.join(dataDir, 'push.sqlite')}`, PORT: '0', HOST: '127.0.0.1', API_KEYS: '', AUTH_TOKEN_SECRET: '', LOG_LEVEL: 'info' },
      /safari-push is ready: (http:\/\/127\.0\.0\.1:\d+) · admin console (\S+) · campaign studio (\S+) · the admin key is in (\S+) /,
    );
    const [, base, console, studio, keyFile] = running.match;
    expect(console).toBe(`${base}/admin`);
    expect(studio).toBe(`${base}/studio/`);
    expect((await fetch(studio)).status).toBe(200);
    const lines = running.output().trim().split('\n');
    const ready = lines.findIndex((line) => line.startsWith('safari-push is ready:'));
    // Every line before it is a JSON log line (so log shippers still parse them); it comes after them.
    expect(ready).toBeGreaterThan(0);
    for (const line of lines.slice(0, ready)) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.slice(0, ready).map((line) => JSON.parse(line).msg)).toContain('safari-push listening');
    const key = (JSON.parse(fs.readFileSync(path.resolve(REPO_ROOT, keyFile), 'utf8')) as { apiKey: string }).apiKey;
    expect(running.output()).not.toContain(key);
    const page = await fetch(console);
    expect(page.status).toBe(200);
    expect((await fetch(`${base}/api/v1/devices/totals`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
  });
});
