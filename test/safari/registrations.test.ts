import crypto from 'node:crypto';
import request from 'supertest';
import { createAuthTokens } from '../../src/safari/auth-token';
import { BACKENDS } from '../helpers/databases';
import { fetchPackage } from '../helpers/package';
import { PUSH_ID, useService, type TestService } from '../helpers/service';

const newDeviceToken = () => crypto.randomBytes(32).toString('hex').toUpperCase();

/** The token Safari would send: the one inside a package this service made. */
async function packageToken(service: TestService, userInfo: unknown = {}): Promise<string> {
  const { files } = await fetchPackage(service, 'v2', userInfo);
  return String((JSON.parse(files.get('website.json')!.toString()) as { authenticationToken: string }).authenticationToken);
}

const registration = (token: string) => `/v2/devices/${token}/registrations/${PUSH_ID}`;
const auth = (authenticationToken: string) => `ApplePushNotifications ${authenticationToken}`;

describe.each(BACKENDS)('device registrations (%s)', (backend) => {
  const ctx = useService(backend);
  const stored = (token: string) => ctx.service.context.devices.findByToken(token.toLowerCase());

  test('when Safari registers with the package token, then the device is stored under that user', async () => {
    const device = newDeviceToken();
    const res = await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'alice' })));
    expect(res.status).toBe(200);
    expect(await stored(device)).toMatchObject({ token: device.toLowerCase(), userId: 'alice', websitePushId: PUSH_ID });
  });

  test('when the package was anonymous, then the device has no user', async () => {
    const device = newDeviceToken();
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service))).expect(200);
    expect((await stored(device))?.userId).toBeNull();
  });

  test('when the same device registers again, then there is still one row, with a newer registration time', async () => {
    const device = newDeviceToken();
    const token = await packageToken(ctx.service, { userId: 'bob' });
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(token)).expect(200);
    const first = await stored(device);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(token)).expect(200);
    const second = await stored(device);
    expect(second?.id).toBe(first?.id);
    expect(second?.createdAt).toBe(first?.createdAt);
    expect(second!.registeredAt).toBeGreaterThan(first!.registeredAt);
    const rows = await ctx.service.context.db('devices').where({ token: device.toLowerCase() }).count<{ n: number }[]>({ n: '*' });
    expect(Number(rows[0].n)).toBe(1);
  });

  test('when Safari deletes the registration, then the device is forgotten', async () => {
    const device = newDeviceToken();
    const token = await packageToken(ctx.service);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(token)).expect(200);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(token)).expect(200);
    expect(await stored(device)).toBeUndefined();
  });

  test.each([
    ['no Authorization header', undefined],
    ['another scheme', 'Bearer abc'],
    ['a made-up token', auth('eyJ1IjoiYWxpY2UifQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')],
    ['a token signed with another secret', auth(createAuthTokens(['some-other-secret-of-32-characters!!'], PUSH_ID).mint('alice'))],
    ['a token for another push ID', auth(createAuthTokens(['test-auth-token-secret-0123456789abcdef'], 'web.com.other').mint('alice'))],
  ])('when registering with %s, then 401 and nothing is stored', async (_label, header) => {
    const device = newDeviceToken();
    const req = request(ctx.service.app).post(registration(device));
    const res = await (header ? req.set('Authorization', header) : req);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect(await stored(device)).toBeUndefined();
  });

  test('when deleting with a forged token, then 401 and the device stays', async () => {
    const device = newDeviceToken();
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service))).expect(200);
    const tampered = (await packageToken(ctx.service, { userId: 'mallory' })).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(tampered)).expect(401);
    expect(await stored(device)).toBeDefined();
  });

  test('when another user\'s valid token tries to delete a device, then 403 and the device stays; its own token deletes it', async () => {
    const device = newDeviceToken();
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'owner' }))).expect(200);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(await packageToken(ctx.service))).expect(403);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'other' }))).expect(403);
    expect(await stored(device)).toBeDefined();
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'owner' }))).expect(200);
    expect(await stored(device)).toBeUndefined();
  });

  test('when a valid token of another user registers alice\'s device, then 403 and the device stays hers (no takeover, so no delete after it)', async () => {
    const device = newDeviceToken();
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'alice' }))).expect(200);
    const before = await stored(device);
    const mallory = await packageToken(ctx.service, { userId: 'mallory' });
    const res = await request(ctx.service.app).post(registration(device)).set('Authorization', auth(mallory));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('device_registered_elsewhere');
    const anonymous = await packageToken(ctx.service);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(anonymous)).expect(403);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(mallory)).expect(403);
    expect(await stored(device)).toEqual(before);
  });

  test('when an anonymous device is registered or deleted with another anonymous package\'s token, then 403; its own package\'s token may do both', async () => {
    const device = newDeviceToken();
    const own = await packageToken(ctx.service);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(own)).expect(200);
    const before = await stored(device);
    const stranger = await packageToken(ctx.service);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(stranger)).expect(403);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(stranger)).expect(403);
    expect(await stored(device)).toEqual(before);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(own)).expect(200);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(own)).expect(200);
    expect(await stored(device)).toBeUndefined();
  });

  test('when an anonymous device was stored before nonces were kept, then no token binds it (the first comer could be anyone) and none may delete it', async () => {
    const device = newDeviceToken().toLowerCase();
    await ctx.service.context.db('devices').insert({ channel: 'safari', token: device, website_push_id: PUSH_ID, user_id: null, registered_by: null, created_at: 1, registered_at: 1 });
    const first = await packageToken(ctx.service);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(first)).expect(200);
    const after = (await ctx.service.context.db('devices').where({ token: device }).first('registered_by', 'registered_at')) as { registered_by: string | null; registered_at: number };
    expect(after.registered_by).toBeNull();
    expect(after.registered_at).toBeGreaterThan(1);
    // Another anonymous package is not locked out by the first one...
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service))).expect(200);
    // ...and neither can remove it: APNs' 410 will, once the device is really gone.
    for (const token of [first, await packageToken(ctx.service)]) {
      const res = await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(token));
      expect(res.status).toBe(403);
    }
    expect(await stored(device)).toBeDefined();
  });

  test('when a delete names a device that is not there, then 200 and a later registration by its owner stands', async () => {
    const device = newDeviceToken();
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'mallory' }))).expect(200);
    await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'owner-2' }))).expect(200);
    await request(ctx.service.app).delete(registration(device)).set('Authorization', auth(await packageToken(ctx.service, { userId: 'mallory' }))).expect(403);
    expect((await stored(device))?.userId).toBe('owner-2');
  });

  test('when a Safari route names a Web Push subscription\'s key, then it is neither moved nor deleted', async () => {
    const key = crypto.randomBytes(32).toString('hex');
    await ctx.service.context.db('devices').insert({ channel: 'webpush', token: key, website_push_id: PUSH_ID, user_id: 'web-user', endpoint: 'https://fcm.googleapis.com/fcm/send/x', p256dh: 'p', auth: 'a', created_at: 1, registered_at: 1 });
    const token = await packageToken(ctx.service, { userId: 'web-user' });
    await request(ctx.service.app).post(registration(key)).set('Authorization', auth(token)).expect(403);
    await request(ctx.service.app).delete(registration(key)).set('Authorization', auth(token)).expect(200);
    expect(await ctx.service.context.db('devices').where({ token: key }).first('channel', 'user_id', 'registered_at')).toEqual({ channel: 'webpush', user_id: 'web-user', registered_at: 1 });
  });

  test.each([
    ['too short', 'abc123'],
    ['not hex', 'z'.repeat(64)],
    ['too long', 'a'.repeat(65)],
  ])('when the device token is %s, then 400 and nothing is stored', async (_label, device) => {
    const before = await ctx.service.context.db('devices').count<{ n: number }[]>({ n: '*' });
    const res = await request(ctx.service.app).post(registration(device)).set('Authorization', auth(await packageToken(ctx.service)));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_device_token');
    const after = await ctx.service.context.db('devices').count<{ n: number }[]>({ n: '*' });
    expect(Number(after[0].n)).toBe(Number(before[0].n));
  });

  test('when the push ID is unknown, then 404 for POST and DELETE', async () => {
    const token = await packageToken(ctx.service);
    const path = `/v2/devices/${newDeviceToken()}/registrations/web.com.other`;
    expect((await request(ctx.service.app).post(path).set('Authorization', auth(token))).status).toBe(404);
    expect((await request(ctx.service.app).delete(path).set('Authorization', auth(token))).status).toBe(404);
  });
});
