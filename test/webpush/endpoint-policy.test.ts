import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { endpointToken } from '../../src/devices/repository';
import type dns from 'node:dns';
import webpush from 'web-push';
import { createLogger } from '../../src/logger';
import { createWebPushClient } from '../../src/webpush/client';
import { createEndpointPolicy, isDnsHostname, PushTarget } from '../../src/webpush/endpoint';
import { isNotPublic, publicOnlyLookup } from '../../src/webpush/public-lookup';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, type TestService } from '../helpers/service';
import { pushStandIn, SITE_ORIGIN } from '../helpers/webpush';

const FIXTURE = path.resolve(__dirname, '../fixtures/apns-stand-in');
const bearer = `Bearer ${API_KEY}`;
const keysOf = (subscription: { keys: { p256dh: string; auth: string } }) => subscription.keys;

/** An HTTPS server on 127.0.0.1 that counts every request it gets, whatever the path: nothing should reach it. */
async function trap(): Promise<{ port: number; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = https.createServer({ cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) }, (req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(201).end('reached the trap');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('endpoint policy', () => {
  const policy = createEndpointPolicy(['fcm.googleapis.com', '.push.apple.com', '127.0.0.1:8443']);

  test('when a host is an allowed suffix but longer than DNS allows, then it is refused (the legacy url.parse read it as no host, i.e. localhost)', () => {
    expect(policy.check(`https://${'a'.repeat(250)}.push.apple.com:8443/x`)).toEqual({ ok: false, reason: expect.stringMatching(/valid DNS name/) });
    expect(policy.check(`https://${'a'.repeat(64)}.push.apple.com/x`)).toMatchObject({ ok: false });
    expect(isDnsHostname(`${'a.'.repeat(125)}com`)).toBe(true); // 253 characters
    expect(isDnsHostname(`${'a.'.repeat(126)}com`)).toBe(false); // 255
  });

  test('when the port is not 443, then only an entry naming that port allows it', () => {
    expect(policy.check('https://fcm.googleapis.com:8443/fcm/send/x')).toEqual({ ok: false, reason: expect.stringMatching(/port 8443/) });
    expect(policy.check('https://127.0.0.1:8443/push/1')).toMatchObject({ ok: true, target: { hostname: '127.0.0.1', port: 8443, path: '/push/1' } });
    expect(policy.check('https://127.0.0.1:8444/push/1')).toMatchObject({ ok: false });
    expect(policy.check('https://127.0.0.1/push/1')).toMatchObject({ ok: true, target: { port: 443 } });
  });

  test('when an endpoint carries credentials, another scheme, a bad label or an unknown host, then it is refused', () => {
    for (const endpoint of [
      'https://user:pw@fcm.googleapis.com/x',
      'http://fcm.googleapis.com/x',
      'https://-bad.push.apple.com/x',
      'https://web.push.apple.com.evil.com/x',
      'https://push.apple.com/x', // the suffix itself is not a subdomain of it
      'https://localhost/x',
      'https://[::1]:8443/x',
      'not a url',
    ]) {
      expect(policy.check(endpoint)).toMatchObject({ ok: false, reason: expect.any(String) });
    }
  });

  test('when an endpoint is approved, then its target is normalised (lower-case host, default port dropped, no fragment) and cannot be made any other way', () => {
    const checked = policy.check('https://FCM.googleapis.com:443/fcm/send/abc?x=1#frag');
    expect(checked).toMatchObject({ ok: true, target: { url: 'https://fcm.googleapis.com/fcm/send/abc?x=1', hostname: 'fcm.googleapis.com', port: 443, path: '/fcm/send/abc?x=1', origin: 'https://fcm.googleapis.com' } });
    expect(() => new PushTarget(Symbol('approved by the endpoint policy'), 'https://127.0.0.1/', '127.0.0.1', 443, '/')).toThrow(TypeError);
  });

  test('when the host list has an entry that is no host, then the configuration is refused', () => {
    expect(() => createEndpointPolicy(['https://fcm.googleapis.com'])).toThrow(/WEBPUSH_ENDPOINT_HOSTS/);
    expect(() => createEndpointPolicy(['fcm.googleapis.com:70000'])).toThrow(/port/);
  });
});

describe.each(BACKENDS)('Web Push endpoints the service may post to (%s)', (backend) => {
  let database: TestDatabase;
  let service: TestService;
  let caught: Awaited<ReturnType<typeof trap>>;
  let push: Awaited<ReturnType<typeof pushStandIn>>;

  beforeAll(async () => {
    caught = await trap();
    push = await pushStandIn();
    database = createTestDatabase(backend);
    // Apple's suffix as in production, plus the stand-in's exact port; never the trap's.
    service = await buildService(database, { WEBPUSH_ENDPOINT_HOSTS: `.push.apple.com,127.0.0.1:${push.port}` });
  });
  afterAll(async () => {
    await service?.close();
    await database?.drop();
    await Promise.all([caught?.close(), push?.close()]);
  });

  test('when a page subscribes with an over-long host under an allowed suffix, then it gets a 400 and nothing is stored', async () => {
    const { keys } = push.subscribe();
    const endpoint = `https://${'a'.repeat(250)}.push.apple.com:${caught.port}/x`;
    const res = await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: { endpoint, keys } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'endpoint_not_allowed', message: expect.stringMatching(/valid DNS name/) });
    expect(await service.context.db('devices').where({ channel: 'webpush' }).count<{ n: number }[]>({ n: '*' })).toEqual([{ n: 0 }]);
  });

  test('when a page subscribes with the stand-in\'s host on another port, then it is refused', async () => {
    const { keys } = push.subscribe();
    const res = await request(service.app)
      .post('/api/v1/subscriptions')
      .set('Origin', SITE_ORIGIN)
      .send({ subscription: { endpoint: `https://127.0.0.1:${caught.port}/push/x`, keys } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(new RegExp(`port ${caught.port}`));
  });

  test('when a stored endpoint is one the policy does not approve (stored before this check), then the send fails it without any request, and the others are sent', async () => {
    const good = push.subscribe();
    await request(service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription: good, userId: 'policy-user' }).expect(201);
    // What an older version stored: the long host that url.parse turned into localhost, at the trap's port.
    const endpoint = `https://${'a'.repeat(250)}.push.apple.com:${caught.port}/x`;
    const { keys } = push.subscribe();
    await service.context.db('devices').insert({
      channel: 'webpush',
      token: endpointToken(endpoint),
      website_push_id: PUSH_ID,
      user_id: 'policy-user',
      endpoint,
      p256dh: keysOf({ keys }).p256dh,
      auth: keys.auth,
      created_at: Date.now(),
      registered_at: Date.now(),
    });
    const res = await request(service.app)
      .post('/api/v1/notifications?wait=true')
      .set('Authorization', bearer)
      .send({ title: 'Policy', body: 'Only approved hosts', urlArgs: ['a', 'b'], to: { users: ['policy-user'] } });
    expect(res.status).toBe(200);
    expect(res.body.counts).toMatchObject({ targeted: 2, sent: 1, failed: 1 });
    const items = (await request(service.app).get(`/api/v1/notifications/${res.body.id}/deliveries?outcome=failed`).set('Authorization', bearer).expect(200)).body.items;
    expect(items).toEqual([expect.objectContaining({ outcome: 'failed', attempts: 1, reason: expect.stringMatching(/^EndpointNotAllowed: endpoint host is not a valid DNS name/) })]);
    expect(caught.hits).toEqual([]);
    expect(push.received.filter((r) => r.subscriptionId === good.id)).toHaveLength(1);
  });
});

describe('names that resolve to non-public addresses', () => {
  /** A resolver that answers from a table (the test machine has no DNS to point a name at 127.0.0.1). */
  const resolver = (table: Record<string, dns.LookupAddress[]>) => (hostname: string, _options: dns.LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) =>
    setImmediate(() => (table[hostname] ? callback(null, table[hostname]) : callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])));

  test('when an address is loopback, private, link-local, shared, IPv4-mapped or unique-local, then it is not public; public ones are', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1']) {
      expect({ address, blocked: isNotPublic(address) }).toEqual({ address, blocked: true });
    }
    for (const address of ['142.250.1.1', '2a00:1450:4001::1', '::ffff:142.250.1.1']) expect({ address, blocked: isNotPublic(address) }).toEqual({ address, blocked: false });
  });

  test('when a name resolves to public and private addresses, then only the public ones are handed to the connection', async () => {
    const lookup = publicOnlyLookup(resolver({ 'fcm.example.test': [{ address: '10.0.0.9', family: 4 }, { address: '142.250.1.1', family: 4 }] }));
    const one = await new Promise((resolve) => lookup('fcm.example.test', {}, (error, address, family) => resolve({ error, address, family })));
    expect(one).toEqual({ error: null, address: '142.250.1.1', family: 4 });
    const all = await new Promise((resolve) => lookup('fcm.example.test', { all: true }, (error, addresses) => resolve({ error, addresses })));
    expect(all).toEqual({ error: null, addresses: [{ address: '142.250.1.1', family: 4 }] });
  });

  test('when an allowed name resolves to this machine, then the send fails with that reason and nothing reaches the address', async () => {
    const caught = await trap();
    const client = createWebPushClient(
      { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' },
      { concurrency: 1, timeoutMs: 2000, threads: 0, connectionsPerOrigin: 1, streamsPerConnection: 10, logger: createLogger('silent'), lookup: publicOnlyLookup(resolver({ 'push.example.test': [{ address: '127.0.0.1', family: 4 }] })) },
    );
    try {
      const checked = createEndpointPolicy(['.example.test:*']).check(`https://push.example.test:${caught.port}/x`);
      if (!checked.ok) throw new Error(checked.reason);
      const { keys } = (await pushStandIn().then(async (standIn) => {
        const subscription = standIn.subscribe();
        await standIn.close();
        return subscription;
      }));
      const result = await client.send(checked.target, keys, { payload: '{}', ttl: 60, urgency: 'normal' });
      expect(result).toEqual({ ok: false, status: null, reason: expect.stringMatching(/resolves only to non-public addresses \(127\.0\.0\.1\)/) });
      expect(caught.hits).toEqual([]);
    } finally {
      await client.close();
      await caught.close();
    }
  });
});
