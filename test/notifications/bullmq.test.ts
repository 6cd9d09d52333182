import crypto from 'node:crypto';
import { Queue } from 'bullmq';
import request from 'supertest';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { createTestDatabase } from '../helpers/databases';
import { runCompiled, stopProcess, type Running } from '../helpers/process';
import { API_KEY, AUTH_SECRET, buildService, PUSH_ID, tempDir } from '../helpers/service';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const bearer = `Bearer ${API_KEY}`;

async function dropQueue(name: string): Promise<void> {
  const queue = new Queue(name, { connection: { url: REDIS_URL } });
  await queue.obliterate({ force: true });
  await queue.close();
}

describe('QUEUE_URL: sends on BullMQ with PostgreSQL', () => {
  test('when the API process works on the queue itself, then a send completes with one outcome per device', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], urlArgsCount: 2 });
    const dead = deviceToken();
    apns.script(dead, { status: 410, reason: 'Unregistered', timestamp: Date.now() + 60_000 });
    const database = createTestDatabase('postgres');
    const queueName = `test-${crypto.randomBytes(4).toString('hex')}`;
    const service = await buildService(database, { ...apnsEnv(apns, key), QUEUE_URL: REDIS_URL, QUEUE_NAME: queueName, SEND_PAGE_SIZE: '10' });
    try {
      const tokens = [dead, ...Array.from({ length: 34 }, () => deviceToken())];
      for (const token of tokens) await service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'q', now: Date.now() });
      const res = await request(service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['q'] } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 35, sent: 34, removed: 1, failed: 0, pending: 0 } });
      expect(apns.requests).toHaveLength(35);
      expect(await service.context.devices.findByToken(dead)).toBeUndefined();
    } finally {
      await service.close();
      await dropQueue(queueName);
      await database.drop();
      await apns.close();
    }
  });

  test('when a planned page never got its batch job (a crash between planning and queueing), then the sweep sends it', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], urlArgsCount: 2 });
    const database = createTestDatabase('postgres');
    const queueName = `test-${crypto.randomBytes(4).toString('hex')}`;
    const env = { ...apnsEnv(apns, key), QUEUE_URL: REDIS_URL, QUEUE_NAME: queueName, SEND_PAGE_SIZE: '10', QUEUE_LOCK_MS: '1000' };
    const api = await buildService(database, { ...env, QUEUE_WORKER_IN_API: 'false' });
    let worker: Awaited<ReturnType<typeof buildService>> | undefined;
    try {
      const tokens = Array.from({ length: 25 }, () => deviceToken());
      for (const token of tokens) await api.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'lost', now: Date.now() });
      const accepted = await request(api.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['lost'] } }).expect(202);
      // Plan the first page by hand and queue nothing for it: what a crash right after the commit leaves.
      expect(await api.context.notifications.planNext(accepted.body.id, 10, Date.now())).toEqual({ from: 0, to: expect.any(Number) });

      worker = await buildService(database, { ...env, DATA_DIR: api.dataDir });
      await worker.context.queue.settled(accepted.body.id);
      const done = (await request(api.app).get(`/api/v1/notifications/${accepted.body.id}`).set('Authorization', bearer)).body;
      expect(done).toMatchObject({ status: 'completed', counts: { targeted: 25, sent: 25, pending: 0 } });
      expect(apns.requests.map((r) => r.token).sort()).toEqual([...tokens].sort());
    } finally {
      await worker?.close();
      await api.close();
      await dropQueue(queueName);
      await database.drop();
      await apns.close();
    }
  });

  test('when a worker is killed with SIGKILL mid-broadcast, then its batch is picked up again, every device ends with exactly one outcome, and only that batch may be sent twice', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key], urlArgsCount: 2 });
    // Slow answers and a small window: each batch of 100 devices takes about half a second.
    apns.scriptPrefix('', { delayMs: 25, answer: { status: 200 } });
    const database = createTestDatabase('postgres');
    const queueName = `test-${crypto.randomBytes(4).toString('hex')}`;
    const pageSize = 100;
    const env = {
      ...database.env,
      ...apnsEnv(apns, key, { APNS_CONNECTIONS: '1', APNS_STREAMS_PER_CONNECTION: '5' }),
      DATA_DIR: tempDir(),
      API_KEYS: API_KEY,
      AUTH_TOKEN_SECRET: AUTH_SECRET,
      QUEUE_URL: REDIS_URL,
      QUEUE_NAME: queueName,
      QUEUE_WORKER_IN_API: 'false',
      QUEUE_LOCK_MS: '2000',
      SEND_PAGE_SIZE: String(pageSize),
    };
    const api = await buildService(database, env);
    const workers: Running[] = [];
    try {
      const total = 1200;
      const tokens = Array.from({ length: total }, () => deviceToken());
      for (const token of tokens) await api.context.devices.register({ token, websitePushId: PUSH_ID, userId: null, now: Date.now() });
      for (let i = 0; i < 2; i++) workers.push(await runCompiled('worker.js', [], env, /worker ready/));

      const accepted = await request(api.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { all: true } }).expect(202);
      const id: string = accepted.body.id;
      while (apns.requests.length < 250) await new Promise((resolve) => setTimeout(resolve, 20));
      const progress = (await request(api.app).get(`/api/v1/notifications/${id}`).set('Authorization', bearer)).body;
      expect(progress.status).toBe('sending');
      expect(progress.counts.targeted).toBe(total);
      expect(progress.counts.pending).toBeGreaterThan(0);

      workers[0].child.kill('SIGKILL');
      expect(await workers[0].exited).toBe('SIGKILL');

      let summary: { status: string; counts: Record<string, number> };
      const deadline = Date.now() + 60_000;
      do {
        await new Promise((resolve) => setTimeout(resolve, 200));
        summary = (await request(api.app).get(`/api/v1/notifications/${id}`).set('Authorization', bearer)).body;
      } while (summary.status !== 'completed' && Date.now() < deadline);
      expect(summary).toMatchObject({ status: 'completed', counts: { targeted: total, sent: total, failed: 0, removed: 0, pending: 0 } });

      const outcomes = await api.context.db('deliveries').where({ notification_id: id }).select('token', 'device_id', 'outcome');
      expect(outcomes).toHaveLength(total);
      expect(new Set(outcomes.map((row: { token: string }) => row.token)).size).toBe(total);
      expect(outcomes.every((row: { outcome: string }) => row.outcome === 'sent')).toBe(true);

      // Every device reached APNs; any device reached twice belongs to the one interrupted batch.
      const received = new Map<string, number>();
      for (const r of apns.requests) received.set(r.token, (received.get(r.token) ?? 0) + 1);
      expect([...received.keys()].sort()).toEqual([...tokens].sort());
      const deviceIdOf = new Map(outcomes.map((row: { token: string; device_id: number }) => [row.token, Number(row.device_id)]));
      const twice = [...received.entries()].filter(([, count]) => count > 1).map(([token]) => deviceIdOf.get(token)!);
      if (twice.length > 0) expect(Math.max(...twice) - Math.min(...twice)).toBeLessThan(pageSize);
      expect(workers[1].output()).toContain('"msg":"safari-push worker ready"');
    } finally {
      await Promise.all(workers.map(stopProcess));
      await api.close();
      await dropQueue(queueName);
      await database.drop();
      await apns.close();
    }
  });
});
