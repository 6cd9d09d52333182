import request from 'supertest';
import { apnsEnv, createProviderKey, deviceToken, standIn, useApnsService } from '../helpers/apns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID } from '../helpers/service';

const bearer = `Bearer ${API_KEY}`;
// package-raw/website.json: "https://example.com/%@/?ref=%@"
const URL_ARGS = ['boarding', 'A998'];

describe.each(BACKENDS)('sending through APNs (%s)', (backend) => {
  const ctx = useApnsService(backend, { topics: [PUSH_ID], urlArgsCount: URL_ARGS.length });
  beforeEach(() => ctx.apns.reset());

  const register = async (token: string, userId: string | null = null, at = Date.now()) =>
    ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId, now: at });
  const send = (body: object, wait = true) =>
    request(ctx.service.app).post(`/api/v1/notifications${wait ? '?wait=true' : ''}`).set('Authorization', bearer).send(body);
  const notification = (to: object, extra: object = {}) => ({ title: 'Flight A998', body: 'Boarding now', action: 'View', urlArgs: URL_ARGS, to, ...extra });
  const deliveries = async (id: string) =>
    (await request(ctx.service.app).get(`/api/v1/notifications/${id}/deliveries?limit=200`).set('Authorization', bearer).expect(200)).body.items as Array<{
      token: string;
      outcome: string;
      status: number | null;
      reason: string | null;
      attempts: number;
    }>;
  const deliveryFor = async (id: string, token: string) => (await deliveries(id)).find((d) => d.token === token);

  test('when APNs answers 200, then the device is kept, the delivery is sent, and APNs saw a valid Safari request', async () => {
    const token = deviceToken();
    await register(token);
    const res = await send(notification({ tokens: [token.toUpperCase()] }, { expiration: Math.floor(Date.now() / 1000) + 3600, priority: 5, collapseId: 'a998' }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', counts: { targeted: 1, sent: 1, failed: 0, removed: 0 } });
    expect(res.body.finishedAt).toEqual(expect.any(String));

    expect(ctx.apns.requests).toHaveLength(1);
    const [received] = ctx.apns.requests;
    expect(received).toMatchObject({ token, auth: 'token', status: 200 });
    expect(received.headers).toMatchObject({ 'apns-topic': PUSH_ID, 'apns-push-type': 'alert', 'apns-priority': '5', 'apns-collapse-id': 'a998' });
    expect(Number(received.headers['apns-expiration'])).toBeGreaterThan(Date.now() / 1000);
    expect(received.payload).toEqual({ aps: { alert: { title: 'Flight A998', body: 'Boarding now', action: 'View' }, 'url-args': URL_ARGS } });

    expect(await ctx.service.context.devices.findByToken(token)).toBeDefined();
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'sent', status: 200, attempts: 1 });
  });

  test('when the send is not awaited, then 202 comes at once and the status reaches completed', async () => {
    const token = deviceToken();
    await register(token);
    const res = await send(notification({ tokens: [token] }), false);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.any(String), status: 'queued' });
    await ctx.service.context.queue.settled(res.body.id);
    const status = await request(ctx.service.app).get(`/api/v1/notifications/${res.body.id}`).set('Authorization', bearer).expect(200);
    expect(status.body).toMatchObject({ id: res.body.id, status: 'completed', counts: { targeted: 1, sent: 1 } });
  });

  test('when the client waiting with ?wait=true hangs up, then the send still completes', async () => {
    const token = deviceToken();
    await register(token, 'hang-up');
    ctx.apns.script(token, { delayMs: 400, answer: { status: 200 } });
    await expect(send(notification({ users: ['hang-up'] })).timeout(100)).rejects.toThrow(/timeout/i);
    const [latest] = (await ctx.service.context.notifications.list({ limit: 1 })).items;
    expect(latest.target).toEqual({ users: ['hang-up'] });
    await ctx.service.context.queue.settled(latest.id);
    expect(await ctx.service.context.notifications.counts(latest)).toMatchObject({ sent: 1, pending: 0 });
  });

  test.each(['BadDeviceToken', 'DeviceTokenNotForTopic'])('when APNs answers 400 %s, then the device is removed', async (reason) => {
    const token = deviceToken();
    await register(token);
    ctx.apns.script(token, { status: 400, reason });
    const res = await send(notification({ tokens: [token] }));
    expect(res.body.counts).toMatchObject({ targeted: 1, sent: 0, removed: 1, failed: 0 });
    expect(await ctx.service.context.devices.findByToken(token)).toBeUndefined();
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'removed', status: 400, reason });
  });

  test('when APNs answers 410 with a timestamp after the last registration, then the device is removed', async () => {
    const token = deviceToken();
    await register(token, null, Date.now() - 60_000);
    ctx.apns.script(token, { status: 410, reason: 'Unregistered', timestamp: Date.now() - 1000 });
    const res = await send(notification({ tokens: [token] }));
    expect(res.body.counts).toMatchObject({ removed: 1, failed: 0 });
    expect(await ctx.service.context.devices.findByToken(token)).toBeUndefined();
  });

  test('when APNs answers 410 but the device registered again after the timestamp, then it is kept and the delivery failed', async () => {
    const token = deviceToken();
    await register(token, null, Date.now());
    ctx.apns.script(token, { status: 410, reason: 'ExpiredToken', timestamp: Date.now() - 60_000 });
    const res = await send(notification({ tokens: [token] }));
    expect(res.body.counts).toMatchObject({ removed: 0, failed: 1 });
    expect(await ctx.service.context.devices.findByToken(token)).toBeDefined();
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'failed', status: 410, reason: expect.stringContaining('ExpiredToken') });
  });

  test.each([
    [429, 'TooManyRequests'],
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
  ])('when APNs answers %i once and then 200, then the retry delivers it', async (status, reason) => {
    const token = deviceToken();
    await register(token);
    ctx.apns.script(token, { status, reason }, { status: 200 });
    const res = await send(notification({ tokens: [token] }));
    expect(res.body.counts).toMatchObject({ sent: 1, failed: 0 });
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'sent', attempts: 2 });
    expect(ctx.apns.requests.map((r) => r.status)).toEqual([status, 200]);
  });

  test('when APNs keeps answering 503, then the delivery fails after the last attempt and the device is kept', async () => {
    const token = deviceToken();
    await register(token);
    ctx.apns.script(token, { status: 503, reason: 'ServiceUnavailable' });
    const res = await send(notification({ tokens: [token] }));
    expect(res.body).toMatchObject({ status: 'completed', counts: { sent: 0, failed: 1 } });
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'failed', status: 503, reason: 'ServiceUnavailable', attempts: 3 });
    expect(ctx.apns.requests).toHaveLength(3);
    expect(await ctx.service.context.devices.findByToken(token)).toBeDefined();
  });

  test('when the stream is reset and then answered, then the connection error is retried', async () => {
    const token = deviceToken();
    await register(token);
    ctx.apns.script(token, { reset: true }, { status: 200 });
    const res = await send(notification({ tokens: [token] }));
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'sent', attempts: 2 });
  });

  test('when APNs does not answer in time, then the timeout is retried', async () => {
    const token = deviceToken();
    await register(token);
    ctx.apns.script(token, { delayMs: 3000, answer: { status: 200 } }, { status: 200 });
    const res = await send(notification({ tokens: [token] }));
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'sent', attempts: 2 });
  });

  test('when APNs answers another 4xx, then the delivery fails with the reason and the device is kept', async () => {
    const token = deviceToken();
    await register(token);
    ctx.apns.script(token, { status: 400, reason: 'BadExpirationDate' });
    const res = await send(notification({ tokens: [token] }));
    expect(await deliveryFor(res.body.id, token)).toMatchObject({ outcome: 'failed', status: 400, reason: 'BadExpirationDate', attempts: 1 });
    expect(await ctx.service.context.devices.findByToken(token)).toBeDefined();
  });

  test('when targeting users, then only their devices are sent to; when targeting all, every device', async () => {
    const alice = [deviceToken(), deviceToken()];
    const bob = deviceToken();
    await register(alice[0], 'alice-t');
    await register(alice[1], 'alice-t');
    await register(bob, 'bob-t');
    const res = await send(notification({ users: ['alice-t'] }));
    expect(res.body.counts).toMatchObject({ targeted: 2, sent: 2 });
    expect(ctx.apns.requests.map((r) => r.token).sort()).toEqual([...alice].sort());

    ctx.apns.reset();
    const everyone = await send(notification({ all: true }));
    const total = (await ctx.service.context.devices.list({ limit: 200 })).items.length;
    expect(everyone.body.counts).toMatchObject({ targeted: total, sent: total });
    expect(new Set(ctx.apns.requests.map((r) => r.token)).size).toBe(total);
  });

  describe('validation', () => {
    const count = async () => Number((await ctx.service.context.db('notifications').count<{ n: number }[]>({ n: '*' }))[0].n);
    const registered = deviceToken();
    beforeAll(() => register(registered, 'val-user'));

    test.each([
      ['no title', { title: undefined }, 'title'],
      ['no body', { body: undefined }, 'body'],
      ['too few urlArgs', { urlArgs: ['one'] }, 'urlArgs has 1 entries but urlFormatString'],
      ['too many urlArgs', { urlArgs: ['a', 'b', 'c'] }, '2 %@ placeholders'],
      ['a payload over 4096 bytes', { body: 'x'.repeat(4000), title: 't'.repeat(200) }, 'APNs accepts at most 4096'],
      ['a collapseId over 64 bytes', { collapseId: 'x'.repeat(65) }, 'collapseId must be 1 to 64 visible ASCII characters'],
      ['an expiration in the past', { expiration: 1_000_000 }, 'expiration is in the past'],
      ['a priority other than 5 or 10', { priority: 7 }, 'priority'],
      ['an empty token list', { to: { tokens: [] } }, 'tokens must not be empty'],
      ['an empty user list', { to: { users: [] } }, 'users must not be empty'],
      ['no target', { to: {} }, 'to'],
      ['two kinds of target', { to: { all: true, users: ['x'] } }, 'to'],
      ['a malformed token', { to: { tokens: ['nothex'] } }, 'Device token must be 64 hexadecimal characters'],
      ['an unknown token', { to: { tokens: [deviceToken()] } }, 'No registered device matches'],
      ['an unknown user', { to: { users: ['nobody-here'] } }, 'No registered device matches'],
      ['an unknown field', { sound: 'ping' }, 'sound'],
    ])('when the request has %s, then 400 and nothing is stored or sent', async (_label, change, message) => {
      const before = await count();
      const res = await send({ ...notification({ users: ['val-user'] }), ...change });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(message);
      expect(await count()).toBe(before);
      expect(ctx.apns.requests).toHaveLength(0);
    });

    test('when the body is not JSON, then 400', async () => {
      const res = await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).set('Content-Type', 'application/json').send('{"title":');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_json');
    });

    test('when asking for an unknown or malformed id, then 404', async () => {
      await request(ctx.service.app).get('/api/v1/notifications/1b4e28ba-2fa1-41d2-883f-0016d3cca427').set('Authorization', bearer).expect(404);
      await request(ctx.service.app).get('/api/v1/notifications/../../etc').set('Authorization', bearer).expect(404);
      await request(ctx.service.app).get('/api/v1/notifications/not-a-uuid/deliveries').set('Authorization', bearer).expect(404);
    });

    test('when the API key is missing, then 401 and nothing is stored', async () => {
      const before = await count();
      await request(ctx.service.app).post('/api/v1/notifications').send(notification({ all: true })).expect(401);
      expect(await count()).toBe(before);
    });
  });
});

describe.each(BACKENDS)('APNs refuses the credentials (%s)', (backend) => {
  test('when APNs answers 403, then no device is removed, every delivery fails, the send stops and the problem is logged', async () => {
    const trusted = createProviderKey();
    const untrusted = createProviderKey('OTHER12345');
    const apns = await standIn({ providerKeys: [trusted], topics: [PUSH_ID], urlArgsCount: URL_ARGS.length });
    const database = createTestDatabase(backend);
    // One connection, one stream: the send can only get a couple of requests out before it stops.
    const service = await buildService(database, apnsEnv(apns, untrusted, { APNS_CONNECTIONS: '1', APNS_STREAMS_PER_CONNECTION: '1' }));
    try {
      const tokens = Array.from({ length: 20 }, () => deviceToken());
      for (const token of tokens) await service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'crowd', now: Date.now() });
      const res = await request(service.app)
        .post('/api/v1/notifications?wait=true')
        .set('Authorization', bearer)
        .send({ title: 't', body: 'b', urlArgs: URL_ARGS, to: { users: ['crowd'] } });
      expect(res.body).toMatchObject({ status: 'failed', counts: { targeted: 20, sent: 0, removed: 0, failed: 20, pending: 0 } });
      expect(res.body.error).toContain('InvalidProviderToken');
      expect(apns.requests.length).toBeLessThanOrEqual(3);
      expect(apns.requests.every((r) => r.status === 403 && r.reason === 'InvalidProviderToken')).toBe(true);
      expect((await service.context.devices.list({ limit: 200, userId: 'crowd' })).items).toHaveLength(20);
      expect(service.logs.lines.some((line) => line.level === 50 && String(line.msg).includes('APNs refused the credentials (403 InvalidProviderToken)'))).toBe(true);
    } finally {
      await service.close();
      await database.drop();
      await apns.close();
    }
  });
});
