import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import webpush, { type Headers, type PushSubscription, type RequestOptions } from 'web-push';
import { DecryptError, createSubscriptionKeys, decryptPushMessage } from '../../src/webpush-stand-in/decrypt';
import { startPushStandIn, type PushStandIn, type StandInSubscription } from '../../src/webpush-stand-in/server';

const FIXTURE = path.join(__dirname, '../fixtures/apns-stand-in');
const SUBJECT = 'mailto:ops@example.com';
const vapidKeys = webpush.generateVAPIDKeys();
const vapidDetails = { subject: SUBJECT, ...vapidKeys };
const now = () => Math.floor(Date.now() / 1000);

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders | Headers;
  body: string;
}

/** A VAPID header signed with our key but carrying claims web-push itself refuses to make. */
function handMadeVapid(claims: Record<string, unknown>): string {
  const point = Buffer.from(vapidKeys.publicKey, 'base64url');
  const jwk = { kty: 'EC', crv: 'P-256', d: vapidKeys.privateKey, x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${encode({ typ: 'JWT', alg: 'ES256' })}.${encode(claims)}`;
  const signature = crypto.sign('sha256', Buffer.from(signed), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `vapid t=${signed}.${signature}, k=${vapidKeys.publicKey}`;
}

/** Sends through web-push exactly as an application server would; error answers become replies too. */
async function push(subscription: PushSubscription, payload?: string, options: RequestOptions = {}): Promise<Reply> {
  try {
    const result = await webpush.sendNotification(subscription, payload, { vapidDetails, ...options });
    return { status: result.statusCode, headers: result.headers, body: result.body };
  } catch (error) {
    if (error instanceof webpush.WebPushError) return { status: error.statusCode, headers: error.headers, body: error.body };
    throw error;
  }
}

/** One raw HTTPS request, for what web-push will not send. */
function request(url: string, method: string, headers: Headers | Record<string, string | number>, body?: Buffer | null): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** What web-push would send to `subscription`, with headers edited before it goes out. */
function edited(subscription: PushSubscription, edit: (headers: Headers) => void, payload = 'hello'): Promise<Reply> {
  const details = webpush.generateRequestDetails(subscription, payload, { vapidDetails, TTL: 60 });
  edit(details.headers);
  return request(subscription.endpoint, 'POST', details.headers, details.body);
}

describe('the Web Push push-service stand-in', () => {
  let stand: PushStandIn;
  let subscription: StandInSubscription;

  beforeEach(async () => {
    stand = await startPushStandIn({ tls: { cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) } });
    subscription = stand.subscribe();
  });
  afterEach(() => stand.close());

  test('when web-push sends a message, then it answers 201 and records the exact decrypted payload and headers', async () => {
    expect(subscription.endpoint).toBe(`${stand.origin}/push/${subscription.id}`);
    expect(Buffer.from(subscription.keys.p256dh, 'base64url')).toHaveLength(65);
    expect(Buffer.from(subscription.keys.auth, 'base64url')).toHaveLength(16);
    const payload = JSON.stringify({ title: 'Grüße ☕', body: 'emoji 🚀 and a\nnewline' });

    const reply = await push(subscription, payload, { TTL: 60, urgency: 'high', topic: 'news-1' });

    expect(reply.status).toBe(201);
    expect(reply.headers.location).toMatch(new RegExp(`^${stand.origin}/message/[0-9a-f-]{36}$`));
    const [received] = await stand.waitFor(1);
    expect(received).toEqual({
      subscriptionId: subscription.id,
      endpoint: subscription.endpoint,
      payload,
      ttl: 60,
      urgency: 'high',
      topic: 'news-1',
      // web-push's client speaks HTTP/1.1 (the stand-in offers both).
      httpVersion: '1.1',
      vapid: { subject: SUBJECT, audience: stand.origin, publicKey: vapidKeys.publicKey, expiresAt: expect.any(Number) },
      status: 201,
      receivedAt: expect.any(Number),
    });
    expect(received.vapid.expiresAt).toBeGreaterThan(now());
    expect(received.vapid.expiresAt).toBeLessThanOrEqual(now() + 24 * 3600);
  });

  test('when the message has no payload, then it is accepted with no payload recorded', async () => {
    expect((await push(subscription)).status).toBe(201);
    expect(stand.received[0]).toMatchObject({ ttl: 2419200, urgency: 'normal', status: 201 });
    expect(stand.received[0].payload).toBeUndefined();
  });

  test('when the body is 4096 bytes it is accepted; when it is larger, then 413', async () => {
    // aes128gcm adds 86 header bytes, a delimiter and a 16-byte tag: 3993 bytes of payload make 4096.
    expect((await push(subscription, 'x'.repeat(3993))).status).toBe(201);
    expect(stand.received[0].payload).toBe('x'.repeat(3993));
    const reply = await push(subscription, 'x'.repeat(3994));
    expect(reply).toMatchObject({ status: 413, body: expect.stringMatching(/4097 bytes/) });
    expect(stand.received.map((r) => r.status)).toEqual([201, 413]);
    expect(stand.received[1].payload).toBeUndefined();
  });

  test.each<[string, number, RegExp, (headers: Headers) => void]>([
    ['Authorization is missing', 401, /missing/, (h) => delete h.Authorization],
    ['the JWT is made for another origin', 403, /aud/, (h) => (h.Authorization = webpush.getVapidHeaders('https://push.example.net', SUBJECT, vapidKeys.publicKey, vapidKeys.privateKey, 'aes128gcm').Authorization)],
    ['the JWT has expired', 403, /expired/, (h) => (h.Authorization = webpush.getVapidHeaders(stand.origin, SUBJECT, vapidKeys.publicKey, vapidKeys.privateKey, 'aes128gcm', now() - 60).Authorization)],
    ['the JWT expires more than 24 h ahead', 403, /24 hours/, (h) => (h.Authorization = handMadeVapid({ aud: stand.origin, exp: now() + 25 * 3600, sub: SUBJECT }))],
    ['the JWT sub is not mailto: or https:', 403, /sub/, (h) => (h.Authorization = handMadeVapid({ aud: stand.origin, exp: now() + 3600, sub: 'ops@example.com' }))],
    ['Authorization uses the pre-RFC WebPush scheme', 401, /vapid/, (h) => (h.Authorization = `WebPush ${h.Authorization.split(/t=|,/)[1]}`)],
    ['TTL is missing', 400, /TTL/, (h) => delete h.TTL],
    ['TTL is negative', 400, /TTL/, (h) => (h.TTL = '-5')],
    ['TTL is not an integer', 400, /TTL/, (h) => (h.TTL = '1.5')],
    ['Urgency is not an RFC 8030 value', 400, /Urgency/, (h) => (h.Urgency = 'urgent')],
    ['Topic has characters outside base64url', 400, /Topic/, (h) => (h.Topic = 'not a topic!')],
    ['Topic is longer than 32 characters', 400, /Topic/, (h) => (h.Topic = 't'.repeat(33))],
    ['Content-Encoding is the legacy aesgcm', 400, /Content-Encoding/, (h) => (h['Content-Encoding'] = 'aesgcm')],
  ])('when %s, then it refuses with %i and says why', async (_, status, reason, edit) => {
    const reply = await edited(subscription, edit);
    expect(reply).toMatchObject({ status, body: expect.stringMatching(reason) });
    if (status === 401) expect(reply.headers['www-authenticate']).toBe('vapid');
    expect(stand.received.map((r) => [r.status, r.payload])).toEqual([[status, undefined]]);
  });

  test('when the hand-made VAPID header has valid claims, then it is accepted (the refusals above are about the claims)', async () => {
    expect((await edited(subscription, (h) => (h.Authorization = handMadeVapid({ aud: stand.origin, exp: now() + 3600, sub: SUBJECT })))).status).toBe(201);
  });

  test('when the JWT is signed by a key other than k, then 403', async () => {
    const impostor = { ...vapidDetails, privateKey: webpush.generateVAPIDKeys().privateKey };
    expect(await push(subscription, 'hi', { vapidDetails: impostor })).toMatchObject({ status: 403, body: expect.stringMatching(/signature/) });
  });

  test('when the body was encrypted for another subscription\'s keys, then 400 and nothing is decrypted', async () => {
    const reply = await push({ endpoint: subscription.endpoint, keys: stand.subscribe().keys }, 'secret');
    expect(reply).toMatchObject({ status: 400, body: expect.stringMatching(/decrypt/) });
    expect(stand.received.map((r) => [r.status, r.payload])).toEqual([[400, undefined]]);
  });

  test('when the subscription, path or method is unknown, then 404 or 405 and nothing is recorded', async () => {
    const unknown = { endpoint: `${stand.origin}/push/no-such-id`, keys: createSubscriptionKeys() };
    expect((await push(unknown, 'hi')).status).toBe(404);
    expect((await request(`${stand.origin}/elsewhere`, 'POST', {})).status).toBe(404);
    expect((await request(subscription.endpoint, 'GET', {})).status).toBe(405);
    expect(stand.received).toEqual([]);
  });

  test('when the subscription has expired, then 410 and the attempt is recorded', async () => {
    stand.expire(subscription.id);
    expect(await push(subscription, 'hi')).toMatchObject({ status: 410, body: expect.stringMatching(/unsubscribed/) });
    expect(stand.received).toEqual([expect.objectContaining({ subscriptionId: subscription.id, status: 410 })]);
  });

  test('when answers are scripted, then they come in order, then 201 again', async () => {
    stand.script(subscription.id, [{ status: 429, headers: { 'Retry-After': '7' }, body: 'slow down' }, { status: 500 }]);
    expect(await push(subscription, 'one')).toMatchObject({ status: 429, body: 'slow down', headers: expect.objectContaining({ 'retry-after': '7' }) });
    expect((await push(subscription, 'two')).status).toBe(500);
    expect((await push(subscription, 'three')).status).toBe(201);
    expect(stand.received.map((r) => [r.payload, r.status])).toEqual([['one', 429], ['two', 500], ['three', 201]]);
    expect((await stand.waitFor(1)).map((r) => r.payload)).toEqual(['three']);
  });

  test('waitFor resolves once enough pushes are accepted, and rejects when they do not come in time', async () => {
    const waiting = stand.waitFor(2);
    await Promise.all([push(subscription, 'a'), push(subscription, 'b')]);
    expect((await waiting).map((r) => r.payload).sort()).toEqual(['a', 'b']);
    await expect(stand.waitFor(3, 50)).rejects.toThrow(/2 pushes accepted/);
  });
});

describe('decryptPushMessage', () => {
  // RFC 8291 §5 / Appendix A: the user agent's keys and the message the application server sent.
  const RFC = {
    plaintext: 'When I grow up, I want to be a watermelon',
    uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
    uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
    auth: 'BTBZMqHH6r4Tts7J_aSIgg',
    body: 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
  };
  const receiver = { privateKey: Buffer.from(RFC.uaPrivate, 'base64url'), auth: RFC.auth };

  test('when given the RFC 8291 example, then it recovers the example plaintext', () => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(receiver.privateKey);
    expect(ecdh.getPublicKey().toString('base64url')).toBe(RFC.uaPublic);
    expect(decryptPushMessage(Buffer.from(RFC.body, 'base64url'), receiver).toString('utf8')).toBe(RFC.plaintext);
  });

  test('when one byte of the record or the auth secret is wrong, then it throws DecryptError', () => {
    const altered = Buffer.from(RFC.body, 'base64url');
    altered[altered.length - 20] ^= 1;
    expect(() => decryptPushMessage(altered, receiver)).toThrow(DecryptError);
    expect(() => decryptPushMessage(Buffer.from(RFC.body, 'base64url'), { ...receiver, auth: crypto.randomBytes(16) })).toThrow(DecryptError);
    expect(() => decryptPushMessage(Buffer.alloc(10), receiver)).toThrow(/header/);
  });
});
