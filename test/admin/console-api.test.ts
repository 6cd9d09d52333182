import request from 'supertest';
import { deviceToken, useApnsService } from '../helpers/apns';
import { BACKENDS } from '../helpers/databases';
import { API_KEY, AUTH_SECRET, PUSH_ID } from '../helpers/service';

const bearer = `Bearer ${API_KEY}`;
const DAY = 86_400_000;

describe.each(BACKENDS)('JSON behind the admin console (%s)', (backend) => {
  const ctx = useApnsService(backend, { topics: [PUSH_ID], urlArgsCount: 2 });
  const get = (path: string) => request(ctx.service.app).get(path).set('Authorization', bearer);

  beforeAll(async () => {
    const logs = ctx.service.context.logs;
    const now = Date.now();
    await logs.add(['Signature verification of push package failed', 'Signature verification of push package failed'], { clientIp: null, userAgent: null, now: now - 2 * DAY });
    await logs.add(['Signature verification of push package failed', '100% of 5_percent icons missing'], { clientIp: null, userAgent: null, now });
    await logs.add(['Old message'], { clientIp: null, userAgent: null, now: now - 90 * DAY });
  });

  test('when logs are searched, then only messages containing the text (case-insensitive, % and _ literal) come back', async () => {
    const signature = await get('/api/v1/logs?search=SIGNATURE').expect(200);
    expect(signature.body.items).toHaveLength(3);
    const percent = await get(`/api/v1/logs?search=${encodeURIComponent('5_p')}`).expect(200);
    expect(percent.body.items.map((l: { message: string }) => l.message)).toEqual(['100% of 5_percent icons missing']);
    expect((await get(`/api/v1/logs?search=${encodeURIComponent('0%_')}`).expect(200)).body.items).toHaveLength(0);
  });

  test('when the summary is asked for, then each distinct message of the period is counted, per day too', async () => {
    const res = await get('/api/v1/logs/summary?days=30').expect(200);
    expect(res.body.items.map((i: { message: string; count: number }) => [i.message, i.count])).toEqual([
      ['Signature verification of push package failed', 3],
      ['100% of 5_percent icons missing', 1],
    ]);
    const perDay = res.body.items[0].perDay as Array<{ day: string; count: number }>;
    expect(perDay.map((d) => d.count)).toEqual([2, 1]);
    expect(perDay[1].day).toBe(new Date().toISOString().slice(0, 10));
    await get('/api/v1/logs/summary?days=0').expect(400);
  });

  test('when totals are asked for, then devices are counted per channel', async () => {
    const before = (await get('/api/v1/devices/totals').expect(200)).body;
    await ctx.service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'x', now: Date.now() });
    const after = (await get('/api/v1/devices/totals').expect(200)).body;
    expect(after).toEqual({ safari: before.safari + 1, webpush: before.webpush, all: before.all + 1 });
  });

  test('when a send had failures, then deliveries filter by outcome and the health shows the last APNs answer, with no secret', async () => {
    const failing = deviceToken('fa11');
    ctx.apns.scriptPrefix('fa11', { status: 400, reason: 'BadExpirationDate' });
    await ctx.service.context.devices.register({ token: failing, websitePushId: PUSH_ID, userId: 'health', now: Date.now() });
    await ctx.service.context.devices.register({ token: deviceToken(), websitePushId: PUSH_ID, userId: 'health', now: Date.now() });
    const sent = await request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['health'] } });
    const failed = (await get(`/api/v1/notifications/${sent.body.id}/deliveries?outcome=failed`).expect(200)).body.items;
    expect(failed).toEqual([expect.objectContaining({ token: failing, channel: 'safari', status: 400, reason: 'BadExpirationDate' })]);
    await get(`/api/v1/notifications/${sent.body.id}/deliveries?outcome=maybe`).expect(400);

    const health = await get('/api/v1/admin/health').expect(200);
    expect(health.body.signing.development).toBe(true);
    expect(health.body.signing.certificate.daysLeft).toBeGreaterThan(0);
    expect(health.body.signing.certificate.subject).toContain(`UID=${PUSH_ID}`);
    expect(health.body.signing.certificate.subject).not.toContain('undefined');
    expect(health.body.apns).toMatchObject({ auth: 'token', lastAnswer: { reachable: true } });
    expect(health.body.webPush.lastAnswer).toBeNull();
    const text = JSON.stringify(health.body);
    for (const secret of [API_KEY, AUTH_SECRET, ctx.service.context.vapid.privateKey, ctx.service.context.identity.privateKeyPem.slice(40, 80)]) expect(text).not.toContain(secret);
    await request(ctx.service.app).get('/api/v1/admin/health').expect(401);
  });

  test('when /admin is fetched, then it is a static page under a strict policy that holds no data', async () => {
    const page = await request(ctx.service.app).get('/admin').expect(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(page.text).toContain('<form id="login"');
    expect(page.text).not.toContain('Signature verification');
    await request(ctx.service.app).get('/admin/admin.js').expect(200).expect('Content-Type', /javascript/);
    await request(ctx.service.app).get('/admin/../package.json').expect(404);
    await request(ctx.service.app).get('/admin/nothing.js').expect(404);
  });
});
