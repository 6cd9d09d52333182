import request from 'supertest';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import { manualClock } from '../../src/clock';
import { ABANDONED_AFTER_MS, IDEMPOTENCY_TTL_MS } from '../../src/idempotency/store';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, type TestService } from '../helpers/service';
import { waitFor } from '../helpers/wait';

const bearer = `Bearer ${API_KEY}`;

describe.each(BACKENDS)('Idempotency-Key on POST /api/v1/notifications (%s)', (backend) => {
  const key = createProviderKey();
  const clock = manualClock(Date.parse('2026-12-01T10:00:00Z'));
  let apns: ApnsStandIn;
  let database: TestDatabase;
  let service: TestService;
  let env: Record<string, string>;
  const token = deviceToken();

  beforeAll(async () => {
    apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount: 2 });
    database = createTestDatabase(backend);
    env = apnsEnv(apns, key);
    service = await buildService(database, env, { clock });
    await service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'idem', now: Date.now() });
  });
  afterAll(async () => {
    await service?.close();
    await database?.drop();
    await apns?.close();
  });

  const notification = (title: string) => ({ title, body: 'Once only', urlArgs: ['a', 'b'], to: { users: ['idem'] } });
  const post = (idempotencyKey: string | undefined, body: object, query = '') => {
    const req = request(service.app).post(`/api/v1/notifications${query}`).set('Authorization', bearer);
    return idempotencyKey === undefined ? req.send(body) : req.set('Idempotency-Key', idempotencyKey).send(body);
  };
  const stored = async () => Number((await service.context.db('notifications').count<{ n: number }[]>({ n: '*' }))[0].n);
  const sentTo = () => apns.requests.filter((r) => r.token === token).length;

  test('when a backend retries the same request with the same key, then it gets the first answer again and the device gets one push', async () => {
    apns.reset();
    const first = await post('retry-1', notification('Retried'));
    expect(first.status).toBe(202);
    const again = await post('retry-1', notification('Retried'));
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    await waitFor(() => sentTo() === 1, 'the one push');
    await waitFor(async () => (await service.context.notifications.get(first.body.id))?.status === 'completed', 'the send to complete');
    expect(sentTo()).toBe(1);
  });

  test('when the same key comes with another body, then 422 idempotency_key_reused and nothing is created', async () => {
    await post('reused-1', notification('First')).expect(202);
    const before = await stored();
    const res = await post('reused-1', notification('Second'));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('idempotency_key_reused');
    expect(await stored()).toBe(before);
  });

  test('when the first try was refused (400), then the key is free and a corrected retry runs', async () => {
    const bad = await post('corrected-1', { ...notification('Bad'), urlArgs: ['only one'] });
    expect(bad.status).toBe(400);
    const good = await post('corrected-1', notification('Good'));
    expect(good.status).toBe(202);
  });

  test('when ?wait=true, then the retry gets the completed summary the first request got', async () => {
    const first = await post('waited-1', notification('Waited'), '?wait=true');
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('completed');
    const again = await post('waited-1', notification('Waited'), '?wait=true');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  test('when many retries with one key arrive at once, then exactly one notification is created and each answer names it or says it is under way', async () => {
    const before = await stored();
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(() => post('burst-1', notification('Burst'))));
    expect(await stored()).toBe(before + 1);
    const ids = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.id));
    expect(ids.size).toBe(1);
    for (const answer of answers) expect([202, 409]).toContain(answer.status);
    const conflict = answers.find((a) => a.status === 409);
    if (conflict) expect(conflict.body.error.code).toBe('idempotency_key_in_progress');
  });

  test('when the service restarts, then the key still replays the first answer (it is kept in the database)', async () => {
    const first = await post('restart-1', notification('Across restarts'));
    await service.close();
    service = await buildService(database, env, { clock });
    const again = await post('restart-1', notification('Across restarts'));
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
  });

  test('when 24 hours have passed, then the same key and body make a new notification', async () => {
    const first = await post('day-old-1', notification('A day later'));
    clock.advance(IDEMPOTENCY_TTL_MS - 1000);
    expect((await post('day-old-1', notification('A day later'))).body.id).toBe(first.body.id);
    clock.advance(1000);
    const later = await post('day-old-1', notification('A day later'));
    expect(later.status).toBe(202);
    expect(later.body.id).not.toBe(first.body.id);
  });

  test('when the send cannot be queued (the queue\'s store is away), then the caller gets a 5xx, nothing is left to send, and a retry with the key runs again', async () => {
    const queue = service.context.queue;
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = async () => {
      throw new Error('queue unreachable');
    };
    const before = await stored();
    try {
      const failed = await post('unqueued-1', notification('Unqueued'));
      expect(failed.status).toBe(500);
      expect(await stored()).toBe(before);
    } finally {
      queue.enqueue = enqueue;
    }
    const retry = await post('unqueued-1', notification('Unqueued'));
    expect(retry.status).toBe(202);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(await stored()).toBe(before + 1);
  });

  test('when a claim is abandoned and taken over, then the request that held it can no longer record or release it', async () => {
    const store = service.context.idempotency;
    const t0 = clock.now();
    const first = await store.claim('test', 'abandoned-1', 'h', t0);
    expect(first).toEqual({ kind: 'new', claimedAt: t0 });
    expect(await store.claim('test', 'abandoned-1', 'h', t0 + ABANDONED_AFTER_MS - 1)).toEqual({ kind: 'in-progress' });
    const second = await store.claim('test', 'abandoned-1', 'h', t0 + ABANDONED_AFTER_MS);
    expect(second).toEqual({ kind: 'new', claimedAt: t0 + ABANDONED_AFTER_MS });
    await store.complete('test', 'abandoned-1', t0, 202, { id: 'the old one' });
    await store.release('test', 'abandoned-1', t0);
    expect(await store.claim('test', 'abandoned-1', 'h', t0 + ABANDONED_AFTER_MS + 1)).toEqual({ kind: 'in-progress' });
    await store.complete('test', 'abandoned-1', t0 + ABANDONED_AFTER_MS, 202, { id: 'the new one' });
    expect(await store.claim('test', 'abandoned-1', 'h', t0 + ABANDONED_AFTER_MS + 2)).toEqual({ kind: 'replay', status: 202, body: { id: 'the new one' } });
  });

  test('when the key is not 1 to 255 visible ASCII characters, then 400 and nothing is created', async () => {
    const before = await stored();
    for (const bad of ['k'.repeat(256), 'with space']) {
      const res = await post(bad, notification('Bad key'));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_idempotency_key');
    }
    expect(await stored()).toBe(before);
  });
});
