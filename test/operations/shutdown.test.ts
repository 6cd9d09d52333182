import request from 'supertest';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { createTestDatabase } from '../helpers/databases';
import { binaryParser, readZip } from '../helpers/package';
import { runCompiled, stopProcess } from '../helpers/process';
import { API_KEY, AUTH_SECRET, PUSH_ID, tempDir } from '../helpers/service';

describe('graceful shutdown of the real process', () => {
  test('when SIGTERM arrives mid-send, then in-flight work is recorded, the process exits 0, and the next start finishes the send', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], urlArgsCount: 2 });
    apns.scriptPrefix('', { delayMs: 150, answer: { status: 200 } });
    const database = createTestDatabase('postgres');
    const env = {
      ...database.env,
      ...apnsEnv(apns, key, { APNS_CONNECTIONS: '1', APNS_STREAMS_PER_CONNECTION: '2' }),
      DATA_DIR: tempDir(),
      API_KEYS: API_KEY,
      AUTH_TOKEN_SECRET: AUTH_SECRET,
      PORT: '0',
      HOST: '127.0.0.1',
    };
    const tokens = Array.from({ length: 40 }, () => deviceToken());
    let first = await runCompiled('server.js', [], env, /"port":(\d+)/);
    try {
      const base = `http://127.0.0.1:${first.match[1]}`;
      const pkg = await request(base).post(`/v2/pushPackages/${PUSH_ID}`).send({ userId: 'crowd' }).buffer(true).parse(binaryParser).expect(200);
      const files = await readZip(pkg.body as Buffer);
      const safariToken = (JSON.parse(files.get('website.json')!.toString()) as { authenticationToken: string }).authenticationToken;
      for (const token of tokens) {
        await request(base).post(`/v2/devices/${token}/registrations/${PUSH_ID}`).set('Authorization', `ApplePushNotifications ${safariToken}`).expect(200);
      }
      const accepted = await request(base)
        .post('/api/v1/notifications')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({ title: 't', body: 'b', urlArgs: ['x', 'y'], to: { users: ['crowd'] } })
        .expect(202);
      while (apns.requests.length < 4) await new Promise((resolve) => setTimeout(resolve, 20));

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain('"msg":"Stopped"');
      const sentBeforeStop = apns.requests.length;
      expect(sentBeforeStop).toBeLessThan(40);

      const second = await runCompiled('server.js', [], env, /"port":(\d+)/);
      first = second;
      const base2 = `http://127.0.0.1:${second.match[1]}`;
      let summary: { status: string; counts: Record<string, number> };
      do {
        await new Promise((resolve) => setTimeout(resolve, 100));
        summary = (await request(base2).get(`/api/v1/notifications/${accepted.body.id}`).set('Authorization', `Bearer ${API_KEY}`).expect(200)).body;
      } while (summary.status !== 'completed');
      expect(summary.counts).toEqual({ targeted: 40, sent: 40, failed: 0, removed: 0, skipped: 0, pending: 0, shown: 0, clicked: 0 });
      // A graceful stop records what was in flight: no device got the notification twice.
      expect(apns.requests.map((r) => r.token).sort()).toEqual([...tokens].sort());
      expect(second.output()).toContain('Resuming unfinished sends');
    } finally {
      await stopProcess(first);
      await database.drop();
      await apns.close();
    }
  });
});
