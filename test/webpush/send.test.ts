import request from 'supertest';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID } from '../helpers/service';
import { pushStandIn, pushTls, SITE_ORIGIN, useBothStandIns, webPushEnv } from '../helpers/webpush';
import { startPushStandIn } from '../../src/webpush-stand-in/server';
import type { StandInSubscription } from '../../src/webpush-stand-in/server';

const bearer = `Bearer ${API_KEY}`;
const URL_ARGS = ['boarding', 'A998'];

describe.each(BACKENDS)('sending to Web Push beside Safari (%s)', (backend) => {
  const ctx = useBothStandIns(backend, URL_ARGS.length);
  const subscribe = async (userId: string): Promise<StandInSubscription> => {
    const subscription = ctx.push.subscribe();
    await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId }).expect(201);
    return subscription;
  };
  /** Stored through the repository: many through the route would pass its per-address rate limit. */
  const store = (s: StandInSubscription, userId: string) =>
    ctx.service.context.devices.subscribe({ subscription: { endpoint: s.endpoint, keys: s.keys }, websitePushId: PUSH_ID, userId, now: Date.now() });
  const send = (body: object) => request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send(body);
  const deliveries = async (id: string) =>
    (await request(ctx.service.app).get(`/api/v1/notifications/${id}/deliveries?limit=200`).set('Authorization', bearer).expect(200)).body.items as Array<{
      channel: string;
      outcome: string;
      status: number | null;
      reason: string | null;
      attempts: number;
    }>;
  const received = (subscription: StandInSubscription) => ctx.push.received.filter((r) => r.subscriptionId === subscription.id);

  test('when a user has a Safari device and a Web Push subscription, then one send reaches both, and the push service gets the decryptable payload with TTL, urgency and topic', async () => {
    const token = deviceToken();
    await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'both', now: Date.now() });
    const subscription = await subscribe('both');
    const expiration = Math.floor(Date.now() / 1000) + 3600;
    const res = await send({ title: 'Flight A998', body: 'Boarding now', urlArgs: URL_ARGS, to: { users: ['both'] }, expiration, priority: 5, collapseId: 'flight-a998' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 2, sent: 2, failed: 0, removed: 0, pending: 0, clicked: 0 } });
    expect(ctx.apns.requests.filter((r) => r.token === token)).toHaveLength(1);
    const [push1] = received(subscription);
    expect(push1.status).toBe(201);
    expect(JSON.parse(push1.payload as string)).toEqual({
      web_push: 8030,
      notification: {
        title: 'Flight A998',
        body: 'Boarding now',
        icon: 'https://push.example.com/icon.png',
        navigate: 'https://example.com/boarding/?ref=A998',
        tag: 'flight-a998',
      },
      mutable: true,
    });
    expect(push1.ttl).toBeGreaterThan(3590);
    expect(push1.ttl).toBeLessThanOrEqual(3600);
    expect(push1.urgency).toBe('normal');
    expect(push1.topic).toBe('flight-a998');
    expect(push1.vapid).toMatchObject({ publicKey: ctx.service.context.vapid.publicKey, audience: ctx.push.origin, subject: 'mailto:webmaster@localhost' });
    expect((await deliveries(res.body.id)).map((d) => [d.channel, d.outcome, d.status]).sort()).toEqual([
      ['safari', 'sent', 200],
      ['webpush', 'sent', 201],
    ]);
  });

  test('when channels is ["webpush"], then only Web Push subscriptions are sent to', async () => {
    const token = deviceToken();
    await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'only-web', now: Date.now() });
    const subscription = await subscribe('only-web');
    const res = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['only-web'] }, channels: ['webpush'], collapseId: 'a long collapse id with spaces, longer than thirty-two' });
    expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 1, sent: 1 } });
    expect(ctx.apns.requests.some((r) => r.token === token)).toBe(false);
    const [push1] = received(subscription);
    expect(push1.topic).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(push1.urgency).toBe('high');
  });

  test('when the push service answers 404 or 410, then the subscription is removed and the outcome is removed', async () => {
    const gone = await subscribe('gone');
    const missing = await subscribe('gone');
    ctx.push.expire(gone.id);
    ctx.push.script(missing.id, [{ status: 404, body: 'no such subscription' }]);
    const res = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['gone'] } });
    expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 2, sent: 0, removed: 2 } });
    expect((await deliveries(res.body.id)).map((d) => d.status).sort()).toEqual([404, 410]);
    expect((await ctx.service.context.devices.list({ userId: 'gone', limit: 10 })).items).toHaveLength(0);
  });

  test('when the push service answers 429 (Retry-After) and 500, then the send retries and the device is sent', async () => {
    const subscription = await subscribe('flaky');
    ctx.push.script(subscription.id, [{ status: 429, headers: { 'Retry-After': '0' }, body: 'slow down' }, { status: 500 }]);
    const res = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['flaky'] } });
    expect(res.body).toMatchObject({ status: 'completed', counts: { sent: 1, failed: 0 } });
    expect(received(subscription).map((r) => r.status)).toEqual([429, 500, 201]);
    expect((await deliveries(res.body.id))[0]).toMatchObject({ outcome: 'sent', attempts: 3 });
  });

  test('when the push service keeps failing, then the delivery fails after the last attempt and the subscription is kept', async () => {
    const subscription = await subscribe('down');
    ctx.push.script(subscription.id, [{ status: 503 }, { status: 503 }, { status: 503 }]);
    const res = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['down'] } });
    expect(res.body).toMatchObject({ status: 'completed', counts: { sent: 0, failed: 1 } });
    expect((await deliveries(res.body.id))[0]).toMatchObject({ outcome: 'failed', status: 503, attempts: 3 });
    expect((await ctx.service.context.devices.list({ userId: 'down', limit: 10 })).items).toHaveLength(1);
  });

  test('when the push service refuses our VAPID credentials (403), then the delivery fails and the subscription is kept', async () => {
    const subscription = await subscribe('vapid');
    ctx.push.script(subscription.id, [{ status: 403, body: 'VAPID key does not match' }]);
    const res = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['vapid'] } });
    expect(res.body).toMatchObject({ counts: { sent: 0, failed: 1, removed: 0 } });
    expect((await deliveries(res.body.id))[0]).toMatchObject({ outcome: 'failed', status: 403, reason: '403 VAPID key does not match' });
    expect((await ctx.service.context.devices.list({ userId: 'vapid', limit: 10 })).items).toHaveLength(1);
  });

  test('when the Web Push payload would be too large, then the send is refused with 400 and nothing is stored', async () => {
    const before = (await request(ctx.service.app).get('/api/v1/notifications?limit=200').set('Authorization', bearer)).body.items.length;
    const res = await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'é'.repeat(2000), urlArgs: URL_ARGS, to: { all: true } }).expect(400);
    expect(res.body.error.message).toContain('Web Push payload is');
    await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { all: true }, channels: ['fax'] }).expect(400);
    await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { all: true }, icon: 'http://example.com/i.png' }).expect(400);
    expect((await request(ctx.service.app).get('/api/v1/notifications?limit=200').set('Authorization', bearer)).body.items.length).toBe(before);
  });

  test('when a push service pauses us with Retry-After, then another send waits it out without using an attempt, and both subscriptions are sent', async () => {
    const [slow, other] = [ctx.push.subscribe(), ctx.push.subscribe()];
    for (const [s, user] of [[slow, 'paused-1'], [other, 'paused-2']] as const) {
      await store(s, user);
    }
    ctx.push.script(slow.id, [{ status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' }]);
    const first = await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['paused-1'] } }).expect(202);
    for (let i = 0; i < 200 && !received(slow).some((r) => r.status === 429); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const refusedAt = received(slow)[0].receivedAt;
    const second = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['paused-2'] } });
    expect(second.body.counts).toMatchObject({ sent: 1, failed: 0 });
    expect((await deliveries(second.body.id))[0]).toMatchObject({ outcome: 'sent', attempts: 1 });
    expect(received(other)[0].receivedAt - refusedAt).toBeGreaterThanOrEqual(900);
    for (let i = 0; i < 300; i++) {
      const counts = (await request(ctx.service.app).get(`/api/v1/notifications/${first.body.id}`).set('Authorization', bearer)).body.counts;
      if (counts.sent === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await deliveries(first.body.id))[0]).toMatchObject({ outcome: 'sent', attempts: 2 });
  });

  test('when the push service sends GOAWAY every 40 pushes during a broadcast, then every subscription is sent exactly once and gets one outcome', async () => {
    const subscriptions = Array.from({ length: 250 }, () => ctx.push.subscribe());
    for (const s of subscriptions) await store(s, 'goaway');
    const before = ctx.push.goAways;
    ctx.push.goAwayAfter(40, true);
    try {
      const res = await send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['goaway'] } });
      expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 250, sent: 250, failed: 0, removed: 0, pending: 0 } });
    } finally {
      ctx.push.goAwayAfter(0);
    }
    expect(ctx.push.goAways - before).toBeGreaterThanOrEqual(5);
    const accepted = new Map<string, number>();
    for (const push of ctx.push.received) if (push.status === 201) accepted.set(push.subscriptionId, (accepted.get(push.subscriptionId) ?? 0) + 1);
    expect(subscriptions.map((s) => accepted.get(s.id))).toEqual(subscriptions.map(() => 1));
  });

  test('when a push service speaks HTTP/1.1 only, then its subscriptions are sent over HTTP/1.1 beside HTTP/2 ones', async () => {
    const old = await startPushStandIn({ host: '127.0.0.1', protocols: ['http/1.1'], tls: pushTls() });
    try {
      const legacy = old.subscribe();
      const modern = ctx.push.subscribe();
      for (const s of [legacy, modern]) await store(s, 'mixed');
      const res = await send({ title: 'Mixed', body: 'b', urlArgs: URL_ARGS, to: { users: ['mixed'] } });
      expect(res.body.counts).toMatchObject({ sent: 2, failed: 0 });
      expect(old.received.map((r) => [r.httpVersion, r.status, JSON.parse(r.payload as string).notification.title])).toEqual([['1.1', 201, 'Mixed']]);
      expect(received(modern).map((r) => r.httpVersion)).toEqual(['2.0']);
    } finally {
      await old.close();
    }
  });
});

describe('APNs refuses the credentials while Web Push works', () => {
  test('when APNs answers 403, then Safari devices fail as not sent and are kept, and Web Push subscriptions are still sent', async () => {
    const trusted = createProviderKey();
    const untrusted = createProviderKey('OTHER12345');
    const apns = await standIn({ providerKeys: [trusted], topics: [PUSH_ID], urlArgsCount: URL_ARGS.length });
    const push = await pushStandIn();
    const database = createTestDatabase('sqlite');
    const service = await buildService(database, { ...apnsEnv(apns, untrusted, { APNS_CONNECTIONS: '1', APNS_STREAMS_PER_CONNECTION: '1' }), ...webPushEnv });
    try {
      for (let i = 0; i < 10; i++) await service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'mixed', now: Date.now() });
      const subscriptions = [push.subscribe(), push.subscribe(), push.subscribe()];
      for (const subscription of subscriptions) await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId: 'mixed' }).expect(201);
      const res = await request(service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['mixed'] } });
      expect(res.body).toMatchObject({ status: 'failed', counts: { targeted: 13, sent: 3, failed: 10, removed: 0, pending: 0 } });
      expect(res.body.error).toContain('InvalidProviderToken');
      expect(apns.requests.length).toBeLessThanOrEqual(3);
      expect(push.received.filter((r) => r.status === 201)).toHaveLength(3);
      expect((await service.context.devices.list({ userId: 'mixed', limit: 50 })).items).toHaveLength(13);
    } finally {
      await service.close();
      await database.drop();
      await Promise.all([apns.close(), push.close()]);
    }
  });
});
