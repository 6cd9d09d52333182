import crypto from 'node:crypto';
import request from 'supertest';
import { BACKENDS } from '../helpers/databases';
import { API_KEY, PUSH_ID, useService } from '../helpers/service';

const bearer = `Bearer ${API_KEY}`;
const hexToken = () => crypto.randomBytes(32).toString('hex');

describe.each(BACKENDS)('admin API (%s)', (backend) => {
  const ctx = useService(backend);
  const devices = () => ctx.service.context.devices;

  beforeAll(async () => {
    // Five devices registered at known, distinct times: newest first is a checkable order.
    for (let i = 0; i < 5; i++) {
      await devices().register({ token: `${i}`.repeat(64), websitePushId: PUSH_ID, userId: i % 2 === 0 ? 'alice' : 'bob', now: 1_700_000_000_000 + i * 1000 });
    }
    await ctx.service.context.logs.add(['first'], { clientIp: '10.0.0.1', userAgent: 'Safari', now: 1_700_000_000_000 });
    await ctx.service.context.logs.add(['second', 'third'], { clientIp: '10.0.0.2', userAgent: 'Safari', now: 1_700_000_001_000 });
  });

  test.each([
    ['no Authorization header', undefined],
    ['a wrong key', 'Bearer not-the-right-key-at-all'],
    ['another scheme', `Basic ${API_KEY}`],
  ])('when called with %s, then 401 with a JSON error', async (_label, header) => {
    const req = request(ctx.service.app).get('/api/v1/devices');
    const res = await (header ? req.set('Authorization', header) : req);
    expect(res.status).toBe(401);
    expect(res.body.error).toEqual({ code: 'unauthorized', message: expect.any(String) });
  });

  test('when listing logs, then newest first, paged with a cursor', async () => {
    const page1 = await request(ctx.service.app).get('/api/v1/logs?limit=2').set('Authorization', bearer).expect(200);
    expect(page1.body.items.map((l: { message: string }) => l.message)).toEqual(['third', 'second']);
    expect(page1.body.items[0]).toMatchObject({ clientIp: '10.0.0.2', userAgent: 'Safari', createdAt: new Date(1_700_000_001_000).toISOString() });
    const page2 = await request(ctx.service.app).get(`/api/v1/logs?limit=2&cursor=${page1.body.nextCursor}`).set('Authorization', bearer).expect(200);
    expect(page2.body.items.map((l: { message: string }) => l.message)).toEqual(['first']);
    expect(page2.body.nextCursor).toBeNull();
  });

  test('when listing devices across pages, then every device appears once, newest registration first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await request(ctx.service.app)
        .get(`/api/v1/devices?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        .set('Authorization', bearer)
        .expect(200);
      seen.push(...res.body.items.map((d: { token: string }) => d.token[0]));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['4', '3', '2', '1', '0']);
  });

  test('when filtering devices by user, then only that user\'s devices come back', async () => {
    const res = await request(ctx.service.app).get('/api/v1/devices?userId=bob').set('Authorization', bearer).expect(200);
    expect(res.body.items.map((d: { userId: string }) => d.userId)).toEqual(['bob', 'bob']);
  });

  test('when a device is looked up, then it is returned, in any letter case', async () => {
    const res = await request(ctx.service.app).get(`/api/v1/devices/${'a'.repeat(64)}`).set('Authorization', bearer);
    expect(res.status).toBe(404);
    await devices().register({ token: 'ab'.repeat(32), websitePushId: PUSH_ID, userId: 'carol', now: Date.now() });
    const found = await request(ctx.service.app).get(`/api/v1/devices/${'AB'.repeat(32)}`).set('Authorization', bearer).expect(200);
    expect(found.body).toMatchObject({ token: 'ab'.repeat(32), userId: 'carol', channel: 'safari', websitePushId: PUSH_ID });
  });

  test('when a device is deleted, then 204, then it is gone and a second delete is 404', async () => {
    const token = hexToken();
    await devices().register({ token, websitePushId: PUSH_ID, userId: null, now: Date.now() });
    await request(ctx.service.app).delete(`/api/v1/devices/${token}`).set('Authorization', bearer).expect(204);
    expect(await devices().findByToken(token)).toBeUndefined();
    await request(ctx.service.app).delete(`/api/v1/devices/${token}`).set('Authorization', bearer).expect(404);
  });

  test.each([
    ['/api/v1/devices?limit=0', 'validation_failed'],
    ['/api/v1/devices?limit=1000', 'validation_failed'],
    ['/api/v1/devices?limit=abc', 'validation_failed'],
    ['/api/v1/logs?cursor=not-a-cursor', 'invalid_cursor'],
    ['/api/v1/devices/xyz', 'invalid_device_token'],
  ])('when %s is asked for, then 400', async (url, code) => {
    const res = await request(ctx.service.app).get(url).set('Authorization', bearer);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
  });

  test('when a route does not exist, then 404 with a JSON error', async () => {
    const res = await request(ctx.service.app).get('/api/v1/nothing-here').set('Authorization', bearer);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});
