import crypto from 'node:crypto';
import request from 'supertest';
import { parseUserAgent } from '../../src/audience/user-agent';
import { keptClientIp } from '../../src/http/client-ip';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { buildService, PUSH_ID, type TestService } from '../helpers/service';
import { pushStandIn, SITE_ORIGIN, webPushEnv } from '../helpers/webpush';
import { fetchPackage } from '../helpers/package';
import type { PushStandIn } from '../../src/webpush-stand-in/server';

const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SECRET = 'user-info-secret-0123456789abcdef';

describe.each(BACKENDS)('device facts and what pages report (%s)', (backend) => {
  let push: PushStandIn;
  let database: TestDatabase;
  let service: TestService;
  let signed: TestService;
  let signedDb: TestDatabase;
  beforeAll(async () => {
    push = await pushStandIn();
    database = createTestDatabase(backend);
    signedDb = createTestDatabase(backend);
    // Behind a proxy, as a deployment is: the client address comes from X-Forwarded-For.
    service = await buildService(database, { ...webPushEnv, TRUST_PROXY: 'loopback' });
    signed = await buildService(signedDb, { ...webPushEnv, USER_INFO_SECRET: SECRET, CLIENT_IP: 'none' });
  });
  afterAll(async () => {
    await Promise.all([service?.close(), signed?.close()]);
    await Promise.all([database?.drop(), signedDb?.drop()]);
    await push?.close();
  });
  const subscribe = async (target: TestService, body: object = {}) => {
    const subscription = push.subscribe();
    const res = await request(target.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).set('User-Agent', CHROME_UA).send({ subscription, ...body }).expect(201);
    return res.body.token as string;
  };
  const pageReport = (target: TestService, body: object) => request(target.app).post('/api/v1/sdk/events').set('Origin', SITE_ORIGIN).set('X-Forwarded-For', '203.0.113.77').send(body);
  const device = async (target: TestService, token: string) => target.context.db('devices').where({ token }).first();

  test('when a page subscribes with its time zone and language, then the device keeps them in canonical form, with browser and OS from the user agent; an unknown zone is dropped, not refused', async () => {
    const token = await subscribe(service, { timezone: 'Asia/Tokyo', language: 'ja-jp' });
    expect(await device(service, token)).toMatchObject({ timezone: 'Asia/Tokyo', language: 'ja-JP', browser: 'chrome', os: 'windows' });
    const odd = await subscribe(service, { timezone: 'Moon/Base', language: 'x' });
    expect(await device(service, odd)).toMatchObject({ timezone: null, language: null, browser: 'chrome' });
    const tooLong = await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: push.subscribe(), timezone: 'x'.repeat(65) });
    expect(tooLong.status).toBe(400);
  });

  test('when a page tracks events for its device, then they are stored for the device and its user, with the client address truncated (CLIENT_IP default)', async () => {
    const token = await subscribe(service, { userId: 'tracked' });
    const res = await pageReport(service, { token, events: [{ name: 'added_to_cart', properties: { price: 59 } }, { name: 'viewed' }] }).expect(202);
    expect(res.body).toEqual({ accepted: 2 });
    expect(res.headers['access-control-allow-origin']).toBe(SITE_ORIGIN);
    const events = (await service.context.audience.events('tracked', { limit: 10 })).items;
    expect(events.map((e) => e.name).sort()).toEqual(['added_to_cart', 'viewed']);
    expect(events[0]).toMatchObject({ clientIp: '203.0.113.0', deviceId: expect.any(Number) });
  });

  test('when a page reports a visit, then the device and its user are marked seen, and the facts are refreshed', async () => {
    const token = await subscribe(service, { userId: 'visitor' });
    await pageReport(service, { token, visit: true, timezone: 'Europe/Paris', language: 'fr' }).expect(202);
    const stored = await device(service, token);
    expect(Number(stored.last_seen_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(stored).toMatchObject({ timezone: 'Europe/Paris', language: 'fr' });
    expect((await service.context.audience.get('visitor'))?.lastSeenAt).toEqual(expect.any(Number));
  });

  test('when a page identifies the visitor, then an anonymous device joins the user; another user\'s device is a 409 and stays theirs', async () => {
    const token = await subscribe(service);
    await pageReport(service, { token, userId: 'identified', events: [{ name: 'logged_in' }] }).expect(202);
    expect((await device(service, token)).user_id).toBe('identified');
    expect((await service.context.audience.events('identified', { limit: 10 })).items.map((e) => e.name)).toEqual(['logged_in']);
    const taken = await pageReport(service, { token, userId: 'someone-else', events: [{ name: 'x' }] });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('device_has_another_user');
    expect((await device(service, token)).user_id).toBe('identified');
    expect((await service.context.audience.events('someone-else', { limit: 10 })).items).toEqual([]);
  });

  test('when the page report is bad, then a clear 4xx and nothing is stored', async () => {
    const token = await subscribe(service, { userId: 'careful' });
    const before = (await service.context.audience.events('careful', { limit: 50 })).items.length;
    const cases: Array<[object, number, string]> = [
      [{ token: crypto.randomBytes(32).toString('hex'), events: [{ name: 'x' }] }, 404, 'unknown_device'],
      [{ token: 'not-a-token', events: [{ name: 'x' }] }, 400, 'invalid_device_token'],
      [{ token, events: Array.from({ length: 21 }, () => ({ name: 'x' })) }, 400, 'validation_failed'],
      [{ token, events: [{ name: 'x', properties: { 'bad name': 1 } }] }, 400, 'validation_failed'],
      [{ token, events: [{ name: 'x', time: Date.now() + 3 * 86_400_000 }] }, 400, 'invalid_event_time'],
      [{ token, events: [{ name: 'x' }], admin: true }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of cases) {
      const res = await pageReport(service, body);
      expect([res.status, res.body.error?.code]).toEqual([status, code]);
    }
    const foreign = await request(service.app).post('/api/v1/sdk/events').set('Origin', 'https://evil.example').send({ token, events: [{ name: 'x' }] });
    expect(foreign.status).toBe(403);
    expect((await service.context.audience.events('careful', { limit: 50 })).items.length).toBe(before);
  });

  test('when a page identifies the visitor on an anonymous legacy Safari device, then 409 (its user comes from its package) and the device stays anonymous', async () => {
    const token = crypto.randomBytes(32).toString('hex');
    await service.context.devices.register({ token, websitePushId: PUSH_ID, userId: null, nonce: 'n1', now: Date.now() });
    const res = await pageReport(service, { token, userId: 'safari-claim' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('safari_device_anonymous');
    expect((await device(service, token)).user_id).toBeNull();
    // Events without a user still belong to the device.
    await pageReport(service, { token, events: [{ name: 'viewed' }] }).expect(202);
  });

  test('when USER_INFO_SECRET is set, then identify needs the user id signed; signed it binds, and CLIENT_IP=none keeps no address', async () => {
    const token = await subscribe(signed);
    const unsigned = await pageReport(signed, { token, userId: 'mallory' });
    expect(unsigned.status).toBe(403);
    expect((await device(signed, token)).user_id).toBeNull();
    const signature = crypto.createHmac('sha256', SECRET).update('alice').digest('hex');
    await pageReport(signed, { token, userId: 'alice', signature, events: [{ name: 'signed_in' }] }).expect(202);
    expect((await device(signed, token)).user_id).toBe('alice');
    const [event] = (await signed.context.audience.events('alice', { limit: 1 })).items;
    expect(event).toMatchObject({ name: 'signed_in', clientIp: null });
  });

  test('when legacy Safari asks for a package with time zone and language in userInfo, then its registration stores them, as a Safari device on macOS', async () => {
    const { files } = await fetchPackage(service, 'v2', { userId: 'safari-user', timezone: 'America/Chicago', language: 'en-US' });
    // The package's token (in its website.json) carries the facts to the registration.
    const { authenticationToken } = JSON.parse(String(files.get('website.json'))) as { authenticationToken: string };
    const deviceToken = crypto.randomBytes(32).toString('hex');
    await request(service.app).post(`/v2/devices/${deviceToken}/registrations/${PUSH_ID}`).set('Authorization', `ApplePushNotifications ${authenticationToken}`).expect(200);
    expect(await device(service, deviceToken)).toMatchObject({ user_id: 'safari-user', timezone: 'America/Chicago', language: 'en-US', browser: 'safari', os: 'macos' });
  });

  test('when Safari posts a log, then the client address is kept as CLIENT_IP says (truncated by default)', async () => {
    await request(service.app).post(`/v2/log`).set('X-Forwarded-For', '2001:db8:85a3:8d3:1319:8a2e:370:7348').send({ logs: ['client-ip test'] }).expect(200);
    const row = await service.context.db('safari_logs').where({ message: 'client-ip test' }).first();
    expect(row.client_ip).toBe('2001:db8:85a3::');
  });
});

describe('user agents and client addresses', () => {
  test.each([
    [CHROME_UA, 'chrome', 'windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15', 'safari', 'macos'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Mobile/15E148 Safari/604.1', 'safari', 'ios'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'firefox', 'linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'edge', 'windows'],
    ['Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36', 'samsung', 'android'],
    ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'chrome', 'chromeos'],
    ['curl/8.5.0', 'other', 'other'],
  ])('%s is %s on %s', (ua, browser, os) => {
    expect(parseUserAgent(ua)).toEqual({ browser, os });
  });

  test.each([
    ['203.0.113.77', '203.0.113.0'],
    ['::ffff:203.0.113.77', '203.0.113.0'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3::'],
    ['2001:db8::1', '2001:db8:0::'],
    ['64:ff9b::1.2.3.4', '64:ff9b:0::'],
    ['not an address', null],
  ])('truncated, %s keeps %s', (address, kept) => {
    expect(keptClientIp(address, 'truncated')).toBe(kept);
    expect(keptClientIp(address, 'none')).toBeNull();
  });
});
