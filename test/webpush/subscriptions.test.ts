import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import request from 'supertest';
import webpush from 'web-push';
import { manualClock } from '../../src/clock';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { buildService, useService } from '../helpers/service';
import { pushStandIn, SITE_ORIGIN, webPushEnv } from '../helpers/webpush';
import type { PushStandIn } from '../../src/webpush-stand-in/server';

describe.each(BACKENDS)('Web Push subscriptions (%s)', (backend) => {
  const ctx = useService(backend, webPushEnv);
  let push: PushStandIn;
  beforeAll(async () => {
    push = await pushStandIn();
  });
  afterAll(() => push.close());
  const webPushDevices = async () => (await ctx.service.context.devices.list({ channel: 'webpush', limit: 200 })).items;

  test('when a page asks for the VAPID public key, then it gets the key the service signs with, with CORS for the site', async () => {
    const res = await request(ctx.service.app).get('/api/v1/webpush/public-key').set('Origin', SITE_ORIGIN).expect(200);
    expect(res.body).toEqual({ publicKey: ctx.service.context.vapid.publicKey });
    expect(res.headers['access-control-allow-origin']).toBe(SITE_ORIGIN);
    expect(JSON.stringify(res.body)).not.toContain(ctx.service.context.vapid.privateKey);
  });

  test('when a page of the site posts a subscription, then it is stored once for its user, and posting it again refreshes it', async () => {
    const subscription = push.subscribe();
    const first = await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId: 'alice' }).expect(201);
    expect(first.headers['access-control-allow-origin']).toBe(SITE_ORIGIN);
    expect(first.body).toEqual({ token: crypto.createHash('sha256').update(subscription.endpoint).digest('hex'), channel: 'webpush', userId: 'alice' });
    const renewed = { ...subscription, keys: push.subscribe().keys };
    await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: renewed, userId: 'alice2' }).expect(201);
    const stored = (await webPushDevices()).filter((d) => d.subscription?.endpoint === subscription.endpoint);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ userId: 'alice2', subscription: { keys: renewed.keys } });
  });

  test('when a subscription\'s key is already a Safari device\'s token, then 409 token_in_use and the Safari device is untouched', async () => {
    const subscription = push.subscribe();
    const token = crypto.createHash('sha256').update(subscription.endpoint).digest('hex');
    await ctx.service.context.devices.register({ token, websitePushId: ctx.service.context.website.websitePushID, userId: 'safari-owner', now: Date.now() });
    const res = await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId: 'intruder' }).expect(409);
    expect(res.body.error.code).toBe('token_in_use');
    const device = await ctx.service.context.devices.findByToken(token);
    expect(device).toMatchObject({ channel: 'safari', userId: 'safari-owner' });
    expect(device?.subscription).toBeUndefined();
  });

  test('when a client hangs up in the middle of a subscription body, then nothing is stored and no server error is logged', async () => {
    const server = http.createServer(ctx.service.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const before = (await webPushDevices()).length;
      const errorsBefore = ctx.service.logs.messages(50).length;
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`POST /api/v1/subscriptions HTTP/1.1\r\nHost: x\r\nOrigin: ${SITE_ORIGIN}\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n{"subscription":{"endpoint":`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await webPushDevices()).length).toBe(before);
      expect(ctx.service.logs.messages(50).slice(errorsBefore)).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('when the browser asks first (preflight), then it may send, from the site origin or another (the request itself is judged)', async () => {
    const ok = await request(ctx.service.app).options('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).set('Access-Control-Request-Method', 'POST').expect(204);
    expect(ok.headers['access-control-allow-methods']).toContain('POST');
    expect(ok.headers['access-control-allow-headers']).toContain('Content-Type');
    const other = await request(ctx.service.app).options('/api/v1/subscriptions').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST').expect(204);
    expect(other.headers['access-control-allow-origin']).toBe('https://evil.example');
  });

  test('when another origin posts a subscription, then it is refused with a 403 the page can read, nothing is stored, and the service warns once for that origin', async () => {
    const before = (await webPushDevices()).length;
    for (let i = 0; i < 3; i++) {
      const res = await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', 'https://forgotten.example').send({ subscription: push.subscribe() }).expect(403);
      expect(res.body.error).toMatchObject({ code: 'origin_not_allowed', message: expect.stringMatching(/ALLOWED_DOMAINS/) });
      // Readable by the page, so the SDK can say why instead of "Failed to fetch".
      expect(res.headers['access-control-allow-origin']).toBe('https://forgotten.example');
    }
    expect((await webPushDevices()).length).toBe(before);
    const warnings = ctx.service.logs.lines.filter((line) => line.level === 40 && line.origin === 'https://forgotten.example');
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0].msg)).toMatch(/not in ALLOWED_DOMAINS/);
  });

  const valid = () => push.subscribe();
  const malformed: Array<[string, () => unknown]> = [
    ['no subscription', () => ({ userId: 'x' })],
    ['no keys', () => ({ subscription: { endpoint: valid().endpoint } })],
    ['an http endpoint', () => ({ subscription: { ...valid(), endpoint: valid().endpoint.replace('https:', 'http:') } })],
    ['an endpoint that is not a URL', () => ({ subscription: { ...valid(), endpoint: 'not a url' } })],
    ['p256dh of the wrong length', () => ({ subscription: { ...valid(), keys: { ...valid().keys, p256dh: crypto.randomBytes(33).toString('base64url') } } })],
    ['p256dh that is not a point on P-256', () => ({ subscription: { ...valid(), keys: { ...valid().keys, p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0xff)]).toString('base64url') } } })],
    ['auth of the wrong length', () => ({ subscription: { ...valid(), keys: { ...valid().keys, auth: crypto.randomBytes(8).toString('base64url') } } })],
    ['auth that is not base64url', () => ({ subscription: { ...valid(), keys: { ...valid().keys, auth: '!!!!!!!!!!!!!!!!!!!!!!' } } })],
    ['an endpoint on a host that is not a push service', () => ({ subscription: { ...valid(), endpoint: 'https://internal.example/admin' } })],
    ['a NUL in the user id', () => ({ subscription: valid(), userId: 'a\u0000b' })],
  ];
  test.each(malformed)('when the subscription has %s, then it is refused with 400 and nothing is stored', async (_name, body) => {
    const before = (await webPushDevices()).length;
    const res = await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send(body() as object).expect(400);
    expect(typeof res.body.error.message).toBe('string');
    expect((await webPushDevices()).length).toBe(before);
  });

  test('when a subscription is deleted, then it is gone; deleting it again is 404', async () => {
    const subscription = push.subscribe();
    await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription }).expect(201);
    await request(ctx.service.app).delete('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ endpoint: subscription.endpoint }).expect(204);
    expect((await webPushDevices()).some((d) => d.subscription?.endpoint === subscription.endpoint)).toBe(false);
    await request(ctx.service.app).delete('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ endpoint: subscription.endpoint }).expect(404);
  });

  test('when the admin lists devices by channel, then subscriptions show with their endpoint', async () => {
    const res = await request(ctx.service.app).get('/api/v1/devices?channel=webpush').set('Authorization', `Bearer ${ctx.service.env.API_KEYS}`).expect(200);
    expect(res.body.items.length).toBeGreaterThan(0);
    expect(res.body.items.every((d: { channel: string; endpoint?: string }) => d.channel === 'webpush' && d.endpoint?.startsWith(push.origin))).toBe(true);
  });
});

describe('Web Push subscriptions with USER_INFO_SECRET', () => {
  test('when the user id is not signed by the site, then 403 and nothing is stored; signed, it is stored', async () => {
    const secret = 'site-user-secret-0123456789abcdefghijklmnop';
    const database = createTestDatabase('sqlite');
    const service = await buildService(database, { ...webPushEnv, USER_INFO_SECRET: secret });
    const push = await pushStandIn();
    try {
      await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: push.subscribe(), userId: 'bob' }).expect(403);
      expect((await service.context.devices.list({ channel: 'webpush', limit: 10 })).items).toHaveLength(0);
      const signature = crypto.createHmac('sha256', secret).update('bob').digest('hex');
      await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: push.subscribe(), userId: 'bob', signature }).expect(201);
      expect((await service.context.devices.list({ channel: 'webpush', limit: 10 })).items.map((d) => d.userId)).toEqual(['bob']);
    } finally {
      await service.close();
      await database.drop();
      await push.close();
    }
  });
});

describe('VAPID keys', () => {
  test('when none are configured, then a development pair is generated once and kept; configured keys must match each other', async () => {
    const database = createTestDatabase('sqlite');
    const first = await buildService(database);
    const dataDir = first.dataDir;
    const key = first.context.vapid.publicKey;
    await first.close();
    const second = await buildService(database, { DATA_DIR: dataDir });
    expect(second.context.vapid.publicKey).toBe(key);
    expect(second.logs.lines.some((line) => String(line.msg).includes('VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY/VAPID_SUBJECT are not set'))).toBe(true);
    expect(JSON.stringify(second.logs.lines)).not.toContain(second.context.vapid.privateKey);
    await second.close();
    const a = webpush.generateVAPIDKeys();
    const b = webpush.generateVAPIDKeys();
    await expect(buildService(database, { VAPID_PUBLIC_KEY: a.publicKey, VAPID_PRIVATE_KEY: b.privateKey, VAPID_SUBJECT: 'mailto:ops@example.com' })).rejects.toThrow(
      'VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY',
    );
    await expect(buildService(database, { VAPID_PUBLIC_KEY: a.publicKey })).rejects.toThrow('go together');
    await database.drop();
  });
});

describe('warnings about origins not in ALLOWED_DOMAINS', () => {
  test('when a client floods made-up origins, then a real missing origin is still warned about within the hour', async () => {
    const clock = manualClock(Date.parse('2026-12-01T10:00:00Z'));
    const database = createTestDatabase('sqlite');
    const service = await buildService(database, webPushEnv, { clock });
    try {
      const post = (origin: string) => request(service.app).post('/api/v1/subscriptions').set('Origin', origin).send({});
      for (let i = 0; i < 1000; i++) await post(`https://junk-${i}.example`).expect(403);
      const warned = (origin: string) => service.logs.lines.some((line) => line.level === 40 && line.origin === origin);
      await post('https://www.real-site.example').expect(403);
      expect(warned('https://www.real-site.example')).toBe(false);
      clock.advance(60 * 60 * 1000);
      await post('https://www.real-site.example').expect(403);
      expect(warned('https://www.real-site.example')).toBe(true);
    } finally {
      await service.close();
      await database.drop();
    }
  });
});
