import crypto from 'node:crypto';
import request from 'supertest';
import { BACKENDS } from '../helpers/databases';
import { fetchPackage } from '../helpers/package';
import { PUSH_ID, useService, type TestService } from '../helpers/service';

const USER_SECRET = 'site-backend-shared-secret-0123456789abcdef';
/** A P-256 public key, as a browser's subscription carries one. */
const P256DH = crypto.createECDH('prime256v1').generateKeys().toString('base64url');
const hmac = (userId: string, secret = USER_SECRET) => crypto.createHmac('sha256', secret).update(userId).digest('hex');
function hs256(claims: object, secret = USER_SECRET, alg = 'HS256'): string {
  const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${header}.${body}.${crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url')}`;
}

/** The user a package's authenticationToken was minted for. */
async function packageUser(service: TestService, userInfo: object): Promise<{ status: number; userId?: string | null; code?: string }> {
  const { res, files } = await fetchPackage(service, 'v2', userInfo);
  if (res.status !== 200) return { status: res.status, code: JSON.parse((res.body as Buffer).toString()).error.code };
  const token = (JSON.parse(files.get('website.json')!.toString()) as { authenticationToken: string }).authenticationToken;
  return { status: 200, userId: service.context.authTokens.verify(token)?.userId };
}

describe.each(BACKENDS)('USER_INFO_SECRET (%s)', (backend) => {
  const ctx = useService(backend, { USER_INFO_SECRET: USER_SECRET });
  const now = Math.floor(Date.now() / 1000);

  test.each([
    ['a userId with its HMAC signature', { userId: 'alice', signature: hmac('alice') }, { status: 200, userId: 'alice' }],
    ['a userId with an upper-case HMAC', { userId: 'alice', signature: hmac('alice').toUpperCase() }, { status: 200, userId: 'alice' }],
    ['a JWT signed with the secret', { userToken: hs256({ sub: 'bob', exp: now + 60 }) }, { status: 200, userId: 'bob' }],
    ['no user at all', {}, { status: 200, userId: null }],
    ['a userId without a signature', { userId: 'alice' }, { status: 403, code: 'invalid_user_signature' }],
    ['a userId signed for another user', { userId: 'alice', signature: hmac('mallory') }, { status: 403, code: 'invalid_user_signature' }],
    ['a userId signed with another secret', { userId: 'alice', signature: hmac('alice', 'x'.repeat(40)) }, { status: 403, code: 'invalid_user_signature' }],
    ['an expired JWT', { userToken: hs256({ sub: 'bob', exp: now - 1 }) }, { status: 403, code: 'invalid_user_signature' }],
    ['a JWT signed with another secret', { userToken: hs256({ sub: 'bob' }, 'y'.repeat(40)) }, { status: 403, code: 'invalid_user_signature' }],
    ['a JWT claiming alg none', { userToken: hs256({ sub: 'bob' }, USER_SECRET, 'none') }, { status: 403, code: 'invalid_user_signature' }],
    ['a JWT whose subject differs from userId', { userId: 'alice', userToken: hs256({ sub: 'bob' }) }, { status: 403, code: 'invalid_user_signature' }],
    ['a JWT whose exp is a string (it would never expire)', { userToken: hs256({ sub: 'bob', exp: String(now - 3600) }) }, { status: 403, code: 'invalid_user_signature' }],
    ['a JWT whose nbf is a string', { userToken: hs256({ sub: 'bob', nbf: 'later' }) }, { status: 403, code: 'invalid_user_signature' }],
    ['a site-signed JWT whose sub holds NUL', { userToken: hs256({ sub: 'bo\u0000b' }) }, { status: 400, code: 'invalid_user_id' }],
    ['a site-signed JWT whose sub is a lone surrogate', { userToken: hs256({ sub: '\ud800' }) }, { status: 400, code: 'invalid_user_id' }],
  ])('when userInfo carries %s, then %p', async (_label, userInfo, expected) => {
    expect(await packageUser(ctx.service, userInfo)).toEqual(expected);
  });

  test('when a Web Push subscription carries a site-signed JWT whose sub holds NUL, then 400 and nothing is stored', async () => {
    const before = await ctx.service.context.db('devices').count<{ n: number }[]>({ n: '*' });
    const res = await request(ctx.service.app)
      .post('/api/v1/subscriptions')
      .set('Origin', 'https://example.com')
      .send({ subscription: { endpoint: 'https://fcm.googleapis.com/fcm/send/nul', keys: { p256dh: P256DH, auth: 'A'.repeat(22) } }, userToken: hs256({ sub: 'x\u0000' }) });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/sub/);
    expect(await ctx.service.context.db('devices').count<{ n: number }[]>({ n: '*' })).toEqual(before);
  });
});

describe.each(BACKENDS)('USER_TOKEN_SECRET (%s)', (backend) => {
  const TOKEN_SECRET = 'jwt-only-secret-of-the-site-0123456789abcdef';
  const ctx = useService(backend, { USER_INFO_SECRET: USER_SECRET, USER_TOKEN_SECRET: TOKEN_SECRET });
  const now = Math.floor(Date.now() / 1000);

  test('when a visitor turns the site\'s signature of a user id they chose (shaped like a JWT) into a userToken, then it is refused', async () => {
    // The visitor's chosen username is a JWT's signing input claiming another user; the site signs it as any user id.
    const signingInput = `${Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'victim' })).toString('base64url')}`;
    const forged = `${signingInput}.${Buffer.from(hmac(signingInput), 'hex').toString('base64url')}`;
    expect(await packageUser(ctx.service, { userToken: forged })).toEqual({ status: 403, code: 'invalid_user_signature' });
  });

  test('when a JWT is signed with USER_TOKEN_SECRET, then it counts; signed user ids still take USER_INFO_SECRET', async () => {
    expect(await packageUser(ctx.service, { userToken: hs256({ sub: 'bob', exp: now + 60 }, TOKEN_SECRET) })).toEqual({ status: 200, userId: 'bob' });
    expect(await packageUser(ctx.service, { userToken: hs256({ sub: 'bob', exp: now + 60 }) })).toEqual({ status: 403, code: 'invalid_user_signature' });
    expect(await packageUser(ctx.service, { userId: 'alice', signature: hmac('alice') })).toEqual({ status: 200, userId: 'alice' });
  });
});

describe('rate limits and headers', () => {
  const ctx = useService('sqlite', { RATE_LIMIT_PER_MINUTE: '3' });

  test('when one address exceeds the limit, then 429 with a JSON error, and other endpoints keep their own budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(ctx.service.app).post('/v2/log').send({ logs: [`m${i}`] })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await request(ctx.service.app).post('/v2/log').send({ logs: ['again'] });
    expect(limited.body.error.code).toBe('rate_limited');
    expect(limited.headers['ratelimit-policy']).toBeDefined();
    expect((await request(ctx.service.app).post(`/v2/pushPackages/${PUSH_ID}`).send({})).status).toBe(200);
    // The limited requests stored nothing.
    expect((await ctx.service.context.logs.list({ limit: 10 })).items).toHaveLength(3);
  });

  test('when one address opens many click links, then they are limited too, and the request log holds only the start of each reference', async () => {
    const statuses: number[] = [];
    const ref = `${'r'.repeat(40)}.${'m'.repeat(22)}`;
    for (let i = 0; i < 4; i++) statuses.push((await request(ctx.service.app).get(`/click/${ref}`)).status);
    expect(statuses).toEqual([400, 400, 400, 429]);
    const written = ctx.service.logs.raw.join('\n');
    expect(written).toContain('/click/rrrrrrrr…');
    expect(written).not.toContain(ref);
  });

  test('when TRUST_PROXY is false, then X-Forwarded-For does not buy a fresh budget', async () => {
    const res = await request(ctx.service.app).post('/v2/log').set('X-Forwarded-For', '203.0.113.9').send({ logs: ['spoofed'] });
    expect(res.status).toBe(429);
  });

  test('when answering, then helmet\'s security headers are set', async () => {
    const res = await request(ctx.service.app).get('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});

describe('behind a trusted proxy', () => {
  const ctx = useService('sqlite', { RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: 'loopback', CLIENT_IP: 'full' });

  test('when the proxy names the client, then limits and logs use that address', async () => {
    const from = (ip: string) => request(ctx.service.app).post('/v2/log').set('X-Forwarded-For', ip).send({ logs: [`from ${ip}`] });
    expect([(await from('198.51.100.1')).status, (await from('198.51.100.1')).status, (await from('198.51.100.1')).status]).toEqual([200, 200, 429]);
    expect((await from('198.51.100.2')).status).toBe(200);
    const logged = await ctx.service.context.logs.list({ limit: 10 });
    expect(logged.items.map((l) => l.clientIp)).toEqual(['198.51.100.2', '198.51.100.1', '198.51.100.1']);
  });
});

describe('without limits', () => {
  const ctx = useService('sqlite', { RATE_LIMIT_PER_MINUTE: '0' });

  test('when RATE_LIMIT_PER_MINUTE is 0, then many requests from one address all pass', async () => {
    for (let i = 0; i < 150; i++) expect((await request(ctx.service.app).post('/v2/log').send({ logs: ['x'] })).status).toBe(200);
  });
});
