import request from 'supertest';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, tempDir } from '../helpers/service';

describe.each(BACKENDS)('a restart during a send (%s)', (backend) => {
  test('when the service stops mid-send and starts again, then every device ends with exactly one outcome and none is sent twice', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], urlArgsCount: 2 });
    // Every answer takes 100 ms and only two requests fly at once: 30 devices take about 1.5 s.
    apns.scriptPrefix('', { delayMs: 100, answer: { status: 200 } });
    const database = createTestDatabase(backend);
    const env = { DATA_DIR: tempDir(), ...apnsEnv(apns, key, { APNS_CONNECTIONS: '1', APNS_STREAMS_PER_CONNECTION: '1' }) };
    const first = await buildService(database, env);
    const tokens = Array.from({ length: 30 }, () => deviceToken());
    for (const token of tokens) await first.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'many', now: Date.now() });

    const accepted = await request(first.app)
      .post('/api/v1/notifications')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ title: 't', body: 'b', urlArgs: ['x', 'y'], to: { users: ['many'] } })
      .expect(202);
    const id: string = accepted.body.id;
    while (apns.requests.length < 4) await new Promise((resolve) => setTimeout(resolve, 20));
    await first.close();

    const second = await buildService(database, env);
    try {
      const before = await second.context.notifications.counts((await second.context.notifications.get(id))!);
      expect(before.pending).toBeGreaterThan(0);
      expect(before.pending).toBeLessThan(30);
      expect((await second.context.notifications.get(id))?.status).toBe('sending');

      expect(await second.context.queue.resume()).toBe(1);
      await second.context.queue.settled(id);
      const after = await request(second.app).get(`/api/v1/notifications/${id}`).set('Authorization', `Bearer ${API_KEY}`).expect(200);
      expect(after.body).toMatchObject({ status: 'completed', counts: { targeted: 30, sent: 30, failed: 0, removed: 0, pending: 0 } });
      const sentTo = apns.requests.map((r) => r.token).sort();
      expect(sentTo).toEqual([...tokens].sort());
    } finally {
      await second.close();
      await database.drop();
      await apns.close();
    }
  });
});
