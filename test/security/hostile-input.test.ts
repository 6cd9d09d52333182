import net from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import request from 'supertest';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, type TestService } from '../helpers/service';

const RUNS = { numRuns: 60 };
/** Stands for the genuine Safari Authorization header, which exists only once the service is built. */
const VALID = '<valid authenticationToken>';
const bearer = `Bearer ${API_KEY}`;

/** Header values an HTTP client can carry: visible latin-1, no CR/LF. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 300 });
/** Path segments: anything, percent-encoded the way a client must send it. */
const segment = fc.string({ unit: 'binary', maxLength: 80 }).map(encodeURIComponent);
/** Bodies: JSON values of every shape, or raw text that may not be JSON at all. */
const body = fc.oneof(fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'), fc.string({ unit: 'binary', maxLength: 400 }));

describe.each(BACKENDS)('hostile and malformed input (%s)', (backend) => {
  const key = createProviderKey();
  let apns: ApnsStandIn;
  let database: TestDatabase;
  let service: TestService;
  let safariAuth: string;
  const knownDevice = deviceToken();

  /** Everything stored: compared before and after each rejected request. */
  const snapshot = async () => {
    const db = service.context.db;
    const count = async (table: string) => Number((await db(table).count<{ n: number }[]>({ n: '*' }))[0].n);
    const [devices, profiles, logs, notifications, deliveries, keys, events, segments, campaigns, occurrences, buckets, conversions, shown] = await Promise.all([
      db('devices').select('token', 'user_id', 'registered_at').orderBy('id'),
      db('profiles').select('user_id', 'attributes', 'updated_at').orderBy('user_id'),
      count('safari_logs'),
      count('notifications'),
      count('deliveries'),
      count('idempotency_keys'),
      count('events'),
      count('segments'),
      db('campaigns').select('id', 'name', 'labels', 'message', 'audience', 'schedule', 'rules', 'results', 'status', 'next_at', 'updated_at').orderBy('id'),
      count('campaign_occurrences'),
      db('result_buckets').select('*').orderBy(['notification_id', 'channel', 'hour']),
      count('conversions'),
      db('deliveries').whereNotNull('shown_at').count<{ n: number }[]>({ n: '*' }),
    ]);
    return JSON.stringify({ devices, profiles, logs, notifications, deliveries, keys, events, segments, campaigns, occurrences, buckets, conversions, shown });
  };

  /** The invariant: never a 5xx; a 4xx has a JSON error with a message and changed nothing. */
  const expectRejectedCleanly = async (send: () => Promise<request.Response>) => {
    const before = await snapshot();
    const res = await send();
    expect(res.status).toBeLessThan(500);
    if (res.status >= 400) {
      expect(await snapshot()).toBe(before);
      if (res.status !== 431) expect(res.body?.error?.message).toEqual(expect.any(String));
    }
    return res;
  };

  beforeAll(async () => {
    apns = await standIn({ providerKeys: [key], urlArgsCount: 2 });
    database = createTestDatabase(backend);
    service = await buildService(database, { ...apnsEnv(apns, key), RATE_LIMIT_PER_MINUTE: '0' });
    safariAuth = `ApplePushNotifications ${service.context.authTokens.mint('hostile-user')}`;
    await service.context.devices.register({ token: knownDevice, websitePushId: PUSH_ID, userId: 'hostile-user', now: Date.now() });
  });
  afterAll(async () => {
    await service.close();
    await database.drop();
    await apns.close();
  });

  test('when pushPackages gets any body and any push ID, then no 5xx and nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.oneof(fc.constant(PUSH_ID), segment), async (payload, pushId) => {
        await expectRejectedCleanly(() => request(service.app).post(`/v2/pushPackages/${pushId}`).set('Content-Type', 'application/json').send(payload));
      }),
      RUNS,
    );
  });

  test('when registrations get any token and any Authorization, then no 5xx and a rejected one changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(segment, fc.constant(knownDevice)), fc.oneof(headerValue, headerValue.map((v) => `ApplePushNotifications ${v}`), fc.constant(VALID)), fc.boolean(), async (token, auth, remove) => {
        const res = await expectRejectedCleanly(() => {
          const path = `/v2/devices/${token}/registrations/${PUSH_ID}`;
          return (remove ? request(service.app).delete(path) : request(service.app).post(path)).set('Authorization', auth === VALID ? safariAuth : auth);
        });
        // Only the token this service minted opens the door.
        if (auth !== VALID) expect(res.status).toBeGreaterThanOrEqual(400);
      }),
      RUNS,
    );
  });

  test('when the log endpoint gets any body, then no 5xx and a rejected report keeps nothing', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        await expectRejectedCleanly(() => request(service.app).post('/v1/log').set('Content-Type', 'application/json').send(payload));
      }),
      RUNS,
    );
  });

  test('when the send API gets any JSON, then no 5xx, and a rejected one stores and sends nothing', async () => {
    const field = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
    const notification = fc.record(
      {
        title: field,
        body: field,
        action: field,
        urlArgs: field,
        to: fc.oneof(field, fc.constant({ tokens: [knownDevice] }), fc.constant({ users: ['hostile-user'] })),
        expiration: field,
        priority: field,
        collapseId: field,
        // The rich Web Push fields.
        url: field,
        image: field,
        badge: field,
        requireInteraction: field,
        silent: field,
        renotify: field,
        timestamp: field,
        lang: field,
        dir: field,
        data: field,
        actions: fc.oneof(field, fc.array(fc.record({ title: field, url: field, icon: field }, { requiredKeys: [] }), { maxLength: 3 })),
        appBadge: field,
        // Results: a goal, with text that no column takes as it is.
        goal: fc.oneof(
          field,
          fc.record(
            { event: fc.oneof(field, fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom('\ud800', 'a\u0000b', 'e'.repeat(65))), within: fc.oneof(field, fc.constantFrom('1d', '31d', '0s')), revenueProperty: field, after: field, where: field },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(notification.map((n) => JSON.stringify(n)), body), async (payload) => {
        apns.reset();
        const res = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications').set('Authorization', bearer).set('Content-Type', 'application/json').send(payload));
        if (res.status >= 400) expect(apns.requests).toHaveLength(0);
      }),
      RUNS,
    );
  });

  /** Filters of every shape: real operators and facts with any values, nested, or any JSON at all. */
  const filterPart = fc.letrec((tie) => ({
    filter: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 2 }),
      fc.record({ attribute: fc.oneof(fc.constantFrom('plan', 'age', 'a-b', ''), fc.jsonValue({ maxDepth: 1 })), op: fc.oneof(fc.constantFrom('eq', 'ne', 'gt', 'in', 'contains', 'exists', 'before', 'within_last'), fc.jsonValue({ maxDepth: 1 })), value: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }),
      fc.record({ device: fc.oneof(fc.constantFrom('channel', 'language', 'lastSeenAt', 'cpu'), fc.jsonValue({ maxDepth: 1 })), op: fc.constantFrom('eq', 'in', 'after', 'more_than_ago', 'contains'), value: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }),
      fc.record({ event: fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.jsonValue({ maxDepth: 1 })), within: fc.oneof(fc.constantFrom('7d', '0m', '999999w', 'x'), fc.jsonValue({ maxDepth: 1 })), count: fc.jsonValue({ maxDepth: 2 }), where: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }),
      fc.record({ all: fc.array(tie('filter'), { maxLength: 3 }) }),
      fc.record({ any: fc.array(tie('filter'), { maxLength: 3 }) }),
      fc.record({ not: tie('filter') }),
    ),
  })).filter;

  test('when the audience API gets any JSON, then no 5xx, and a rejected request changes nothing', async () => {
    const field = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
    const profile = fc.record({ attributes: fc.oneof(field, fc.dictionary(fc.string({ maxLength: 70 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })), timezone: field, language: field, test: field }, { requiredKeys: [] });
    const event = fc.record({ name: field, userId: field, token: fc.oneof(field, fc.constant(knownDevice)), time: field, properties: field }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(segment, fc.oneof(profile.map((p) => JSON.stringify(p)), body), fc.oneof(fc.array(event, { maxLength: 3 }).map((events) => JSON.stringify({ events })), body), filterPart, async (user, profileBody, eventsBody, filter) => {
        const api = () => request(service.app);
        const asJson = (r: request.Test) => r.set('Authorization', bearer).set('Content-Type', 'application/json');
        await expectRejectedCleanly(() => asJson(api().put(`/api/v1/users/${user}`)).send(profileBody));
        await expectRejectedCleanly(() => asJson(api().patch(`/api/v1/users/${user}`)).send(profileBody));
        const batch = (() => {
          try {
            const parsed: unknown = JSON.parse(profileBody);
            return JSON.stringify({ users: [{ userId: decodeURIComponent(user), ...(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) }] });
          } catch {
            return profileBody;
          }
        })();
        await expectRejectedCleanly(() => asJson(api().post('/api/v1/users/batch')).send(batch));
        await expectRejectedCleanly(() => asJson(api().post('/api/v1/events')).send(eventsBody));
        await expectRejectedCleanly(() => asJson(api().post('/api/v1/segments/estimate')).send(JSON.stringify({ filter })));
        await expectRejectedCleanly(() => asJson(api().post('/api/v1/segments')).send(JSON.stringify({ name: 'fuzz', filter })));
        apns.reset();
        const sent = await expectRejectedCleanly(() => asJson(api().post('/api/v1/notifications?wait=true')).send(JSON.stringify({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { filter } })));
        if (sent.status >= 400) expect(apns.requests).toHaveLength(0);
        await expectRejectedCleanly(() => asJson(api().get(`/api/v1/users/${user}/events?limit=5&cursor=${user}`)).send());
        // The page-facing report, for a real device and for anything else.
        const events = (() => {
          try {
            const parsed: unknown = JSON.parse(eventsBody);
            return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {};
          } catch {
            return {};
          }
        })();
        const page = JSON.stringify({ token: knownDevice, ...events, userId: decodeURIComponent(user) || undefined });
        for (const raw of [page, eventsBody]) {
          await expectRejectedCleanly(() => request(service.app).post('/api/v1/sdk/events').set('Origin', 'https://example.com').set('Content-Type', 'application/json').send(raw));
        }
        await expectRejectedCleanly(() => asJson(api().get(`/api/v1/users/${user}/export`)).send());
      }),
      { numRuns: 40 },
    );
  });

  test('when the campaign API gets any JSON, then no 5xx, and a rejected request changes nothing', async () => {
    const nasty = fc.constantFrom('\ud800', 'a\u0000b', 'n'.repeat(300), '', 'FREQ=DAILY;INTERVAL=-1', 'FREQ=HOURLY;BYMONTH=0', '2026-02-30T09:00', '0050-01-01T09:00', '25:00', '-1d', 'Mars/Olympus');
    const field = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'binary', maxLength: 80 }), nasty, fc.constant(undefined));
    const message = fc.oneof(field, fc.record({ title: fc.oneof(field, fc.constant('t')), body: fc.oneof(field, fc.constant('b')), urlArgs: fc.oneof(field, fc.constant(['a', 'b'])), expiration: field, url: field }, { requiredKeys: [] }));
    const schedule = fc.oneof(
      field,
      fc.record(
        {
          type: fc.oneof(fc.constantFrom('now', 'at', 'dates', 'recurring', 'event', 'date-attribute'), field),
          at: field,
          dates: fc.oneof(field, fc.array(field, { maxLength: 3 })),
          timezone: fc.oneof(field, fc.constant('Europe/Berlin')),
          rrule: fc.oneof(field, fc.constantFrom('FREQ=WEEKLY;BYDAY=MO', 'FREQ=DAILY;BYHOUR=9;BYHOUR=10', 'FREQ=MONTHLY;BYDAY=+9MO', 'RRULE:FREQ=YEARLY;COUNT=0')),
          start: field,
          end: field,
          localTime: field,
          fallbackTimezone: field,
          event: field,
          where: fc.oneof(field, fc.array(fc.record({ property: field, op: field, value: field }, { requiredKeys: [] }), { maxLength: 2 })),
          delay: field,
          unless: fc.oneof(field, fc.record({ event: field, within: field }, { requiredKeys: [] })),
          reentry: field,
          attribute: field,
          offset: field,
        },
        { requiredKeys: [] },
      ),
    );
    const rules = fc.oneof(field, fc.record({ cutoff: field, quietHours: fc.oneof(field, fc.record({ from: field, to: field, policy: field }, { requiredKeys: [] })), frequencyCaps: field, throttlePerMinute: field }, { requiredKeys: [] }));
    const variant = fc.record({ name: fc.oneof(field, fc.constantFrom('A', 'B', 'control')), weight: fc.oneof(field, fc.integer({ min: -1, max: 101 })), message: fc.oneof(field, message) }, { requiredKeys: [] });
    const results = {
      goal: fc.oneof(field, fc.record({ event: field, where: field, within: fc.oneof(field, fc.constantFrom('1d', '31d', '0s')), revenueProperty: field, after: fc.oneof(field, fc.constantFrom('sent', 'click')) }, { requiredKeys: [] })),
      controlGroupPercent: fc.oneof(field, fc.double({ min: -10, max: 110, noNaN: false })),
      variants: fc.oneof(field, fc.array(variant, { maxLength: 6 })),
      winner: fc.oneof(field, fc.record({ metric: field, after: field, testPercent: field }, { requiredKeys: [] })),
    };
    // `variant` and `userIds` are what a test send takes; elsewhere they are unknown fields.
    const campaign = fc.record({ name: fc.oneof(field, fc.constant('fuzz')), labels: fc.oneof(field, fc.array(field, { maxLength: 3 })), message, audience: fc.oneof(field, fc.constant({ all: true }), fc.record({ filter: filterPart })), schedule, rules, ...results, variant: field, userIds: field }, { requiredKeys: [] });
    const draft = (await request(service.app).post('/api/v1/campaigns').set('Authorization', bearer).send({ name: 'Draft', message: { title: 't', body: 'b', urlArgs: ['a', 'b'] }, audience: { all: true }, schedule: { type: 'at', at: '2030-01-01T09:00', timezone: 'UTC' } }).expect(201)).body.id as string;
    await fc.assert(
      fc.asyncProperty(fc.oneof(campaign.map((c) => JSON.stringify(c)), body), segment, headerValue.map(encodeURIComponent), async (payload, id, query) => {
        apns.reset();
        const asJson = (r: request.Test) => r.set('Authorization', bearer).set('Content-Type', 'application/json');
        const created = await expectRejectedCleanly(() => asJson(request(service.app).post('/api/v1/campaigns')).send(payload));
        if (created.status === 201) await request(service.app).post(`/api/v1/campaigns/${created.body.id}/cancel`).set('Authorization', bearer).expect(200);
        await expectRejectedCleanly(() => asJson(request(service.app).patch(`/api/v1/campaigns/${draft}`)).send(payload));
        await expectRejectedCleanly(() => asJson(request(service.app).post(`/api/v1/campaigns/${draft}/test`)).send(payload));
        for (const action of ['launch', 'pause', 'resume', 'cancel', 'test']) await expectRejectedCleanly(() => asJson(request(service.app).post(`/api/v1/campaigns/${id}/${action}`)).send(payload));
        await expectRejectedCleanly(() => request(service.app).get(`/api/v1/campaigns?status=${query}&label=${query}&cursor=${query}`).set('Authorization', bearer));
        await expectRejectedCleanly(() => request(service.app).get(`/api/v1/campaigns/${id}/occurrences?cursor=${query}`).set('Authorization', bearer));
        for (const which of [id, draft]) await expectRejectedCleanly(() => request(service.app).get(`/api/v1/campaigns/${which}/report?occurrence=${query}&format=${query}`).set('Authorization', bearer));
        await expectRejectedCleanly(() => asJson(request(service.app).post('/api/v1/schedules/preview')).send(payload));
        expect(apns.requests).toHaveLength(0);
      }),
      { numRuns: 40 },
    );
  });

  test('when the subscription endpoint gets any body from the site origin, then no 5xx and a rejected one stores nothing', async () => {
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('\ud800', 'a\u0000b', `https://${'a'.repeat(250)}.push.apple.com/x`, 'https://fcm.googleapis.com:8443/x', 'https://u:p@fcm.googleapis.com/x'));
    const subscription = fc.record({ endpoint: fc.oneof(text, fc.jsonValue({ maxDepth: 1 })), keys: fc.oneof(fc.record({ p256dh: text, auth: text }), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] });
    const payload = fc.oneof(fc.record({ subscription, userId: fc.oneof(text, fc.jsonValue({ maxDepth: 1 })), userToken: text, signature: text }, { requiredKeys: [] }).map((v) => JSON.stringify(v)), body);
    await fc.assert(
      fc.asyncProperty(payload, async (raw) => {
        await expectRejectedCleanly(() => request(service.app).post('/api/v1/subscriptions').set('Origin', 'https://example.com').set('Content-Type', 'application/json').send(raw));
        await expectRejectedCleanly(() => request(service.app).delete('/api/v1/subscriptions').set('Origin', 'https://example.com').set('Content-Type', 'application/json').send(raw));
      }),
      RUNS,
    );
  });

  test('when click links carry any reference, then no 5xx', async () => {
    const ref = service.context.clickRefs.sign({ notificationId: '00000000-0000-4000-8000-000000000000', deliveryId: 1, urlArgs: ['a', 'b'] });
    const tampered = fc.tuple(fc.nat(ref.length - 1), fc.string({ unit: 'binary', minLength: 1, maxLength: 3 })).map(([at, insert]) => encodeURIComponent(ref.slice(0, at) + insert + ref.slice(at + 1)));
    await fc.assert(
      fc.asyncProperty(fc.oneof(segment, tampered), fc.boolean(), async (value, post) => {
        await expectRejectedCleanly(() => (post ? request(service.app).post(`/click/${value}`) : request(service.app).get(`/click/${value}`)));
        // A click reference is no shown reference (keys of their own), nor is anything else.
        await expectRejectedCleanly(() => request(service.app).post(`/shown/${value}`));
      }),
      RUNS,
    );
  });

  test('when the send API gets any Idempotency-Key header with any body, then no 5xx, and a rejected request keeps no key', async () => {
    const notification = fc.oneof(fc.constant(JSON.stringify({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { tokens: [knownDevice] } })), body);
    await fc.assert(
      fc.asyncProperty(fc.oneof(headerValue, fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 300 })), notification, async (key, payload) => {
        apns.reset();
        // wait=true: an accepted send finishes here, so its request cannot land in the next run's count.
        const res = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).set('Idempotency-Key', key).set('Content-Type', 'application/json').send(payload));
        if (res.status >= 400) expect(apns.requests).toHaveLength(0);
      }),
      { numRuns: 30 },
    );
  });

  test('when admin reads get any query and path, then no 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(segment, headerValue.map(encodeURIComponent), headerValue.map(encodeURIComponent), fc.constantFrom('logs', 'devices', 'notifications'), async (token, limit, cursor, listing) => {
        await expectRejectedCleanly(() => request(service.app).get(`/api/v1/${listing}?limit=${limit}&cursor=${cursor}&userId=${cursor}`).set('Authorization', bearer));
        await expectRejectedCleanly(() => request(service.app).get(`/api/v1/devices/${token}`).set('Authorization', bearer));
        await expectRejectedCleanly(() => request(service.app).delete(`/api/v1/devices/${token}`).set('Authorization', bearer));
        await expectRejectedCleanly(() => request(service.app).get(`/api/v1/notifications/${token}/deliveries`).set('Authorization', bearer));
      }),
      { numRuns: 30 },
    );
  });

  test.each([
    ['a traversal in the push ID', 404, 'post', `/v2/pushPackages/..%2F..%2Fetc%2Fpasswd`],
    ['a NUL in the device token', 400, 'post', `/v2/devices/%00${'a'.repeat(63)}/registrations/${PUSH_ID}`],
    ['broken percent-encoding', 400, 'post', '/v2/pushPackages/%E0%A4%A'],
    ['a unicode push ID', 404, 'post', `/v2/pushPackages/${encodeURIComponent('web.cöm.例え')}`],
    ['a version that is not v<digits>', 404, 'post', `/v99999999999/pushPackages/${PUSH_ID}`],
    ['a traversal in the admin token', 400, 'get', '/api/v1/devices/..%2F..%2Fetc'],
    ['a cursor of garbage', 400, 'get', '/api/v1/logs?cursor=%FF%FE'],
    ['a repeated query parameter', 400, 'get', '/api/v1/devices?userId=a&userId=b'],
    ['a negative limit', 400, 'get', '/api/v1/logs?limit=-1'],
  ] as const)('when a request has %s, then %i', async (_label, status, method, path) => {
    const res = await expectRejectedCleanly(() => request(service.app)[method](path).set('Authorization', bearer).set('Content-Type', 'application/json').send('{}'));
    expect(res.status).toBe(status);
  });

  test.each([
    ['JSON with a __proto__ key', 400, '{"title":"t","body":"b","urlArgs":["a","b"],"to":{"all":true},"__proto__":{"admin":true}}'],
    ['a deeply nested body', 400, `${'['.repeat(5000)}${']'.repeat(5000)}`],
    ['a body over the limit', 413, JSON.stringify({ title: 'x'.repeat(600_000) })],
    ['a number where an object belongs', 400, '42'],
    ['an unclosed string', 400, '{"title":"'],
  ] as const)('when the send API gets %s, then %i', async (_label, status, payload) => {
    const res = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications').set('Authorization', bearer).set('Content-Type', 'application/json').send(payload));
    expect(res.status).toBe(status);
  });

  const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  test.each([
    ['a NUL in a Safari log message', 'post', '/v2/log', { logs: ['a\u0000b'] }],
    ['a NUL in userInfo.userId', 'post', `/v2/pushPackages/${PUSH_ID}`, { userId: 'al\u0000ice' }],
    ['a NUL in a notification title', 'post', '/api/v1/notifications', { title: 't\u0000', body: 'b', urlArgs: ['a', 'b'], to: { all: true } }],
    ['a NUL in a target user', 'post', '/api/v1/notifications', { title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['x\u0000'] } }],
    ['a NUL in the userId filter', 'get', '/api/v1/devices?userId=a%00b', undefined],
    ['a cursor whose id is text on an integer listing', 'get', `/api/v1/logs?cursor=${cursor([1, 'x'])}`, undefined],
    ['a cursor whose id overflows the column', 'get', `/api/v1/devices?cursor=${cursor([1, 3_000_000_000])}`, undefined],
    ['a cursor whose id is not a UUID on the notification listing', 'get', `/api/v1/notifications?cursor=${cursor([1, 5])}`, undefined],
  ] as const)('when a request has %s, then 400 on either database', async (_label, method, path, payload) => {
    const res = await expectRejectedCleanly(() => {
      const req = request(service.app)[method](path).set('Authorization', bearer);
      return payload === undefined ? req : req.send(payload);
    });
    expect(res.status).toBe(400);
  });

  const lone = 'x\ud800y';
  test.each([
    ['a Safari log message', 'post', '/v2/log', { logs: [lone] }],
    ['userInfo.userId', 'post', `/v2/pushPackages/${PUSH_ID}`, { userId: lone }],
    ['a notification title', 'post', '/api/v1/notifications', { title: lone, body: 'b', urlArgs: ['a', 'b'], to: { all: true } }],
    ['a notification body', 'post', '/api/v1/notifications', { title: 't', body: lone, urlArgs: ['a', 'b'], to: { all: true } }],
    ['a url-arg (encodeURIComponent throws on it)', 'post', '/api/v1/notifications', { title: 't', body: 'b', urlArgs: [lone, 'b'], to: { all: true } }],
    ['a target user', 'post', '/api/v1/notifications', { title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: [lone] } }],
    ['an action label', 'post', '/api/v1/notifications', { title: 't', body: 'b', action: lone, urlArgs: ['a', 'b'], to: { all: true } }],
    ['a button title', 'post', '/api/v1/notifications', { title: 't', body: 'b', urlArgs: ['a', 'b'], to: { all: true }, actions: [{ title: lone, url: 'https://example.com/' }] }],
    ['a click URL', 'post', '/api/v1/notifications', { title: 't', body: 'b', urlArgs: ['a', 'b'], to: { all: true }, url: `https://example.com/${lone}` }],
    ['a subscription user', 'post', '/api/v1/subscriptions', { subscription: { endpoint: 'https://fcm.googleapis.com/x', keys: { p256dh: 'x', auth: 'y' } }, userId: lone }],
  ] as const)('when %s holds a lone UTF-16 surrogate, then 400 naming it, on either database', async (_label, method, path, payload) => {
    const res = await expectRejectedCleanly(() => request(service.app)[method](path).set('Authorization', bearer).send(payload));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/well-formed Unicode/);
  });

  test.each([
    ['a collapseId with non-ASCII characters (APNs would fail the stream)', { collapseId: 'flüge' }, /collapseId must be 1 to 64 visible ASCII/],
    ['a collapseId with a control character', { collapseId: 'a\tb' }, /collapseId/],
    ['an expiration in milliseconds', { expiration: Date.now() + 3_600_000 }, /looks like milliseconds/],
    ['an expiration past 32 bits', { expiration: 2 ** 33 }, /looks like milliseconds|at most 4294967295/],
    ['a priority that is neither 5 nor 10', { priority: 7 }, /priority must be 10 \(send now\) or 5/],
  ] as const)('when the send API gets %s, then 400 with a hint', async (_label, extra, message) => {
    apns.reset();
    const res = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { all: true }, ...extra }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
    expect(apns.requests).toHaveLength(0);
  });

  test('when the send API gets a body without Content-Type: application/json, then 415 that says what to send; without a body, 400 that says so', async () => {
    const asText = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications').set('Authorization', bearer).set('Content-Type', 'text/plain').send('{"title":"t"}'));
    expect(asText.status).toBe(415);
    expect(asText.body.error).toMatchObject({ code: 'unsupported_media_type', message: expect.stringMatching(/Content-Type: application\/json \(got "text\/plain"\)/) });
    const form = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications').set('Authorization', bearer).type('form').send({ title: 't' }));
    expect(form.status).toBe(415);
    const none = await expectRejectedCleanly(() => request(service.app).post('/api/v1/notifications').set('Authorization', bearer));
    expect(none.status).toBe(400);
    expect(none.body.error).toMatchObject({ code: 'missing_body', message: expect.stringMatching(/Content-Type: application\/json/) });
  });

  test('when a click link carries multi-byte characters where its MAC belongs, then 400 (not a timingSafeEqual crash)', async () => {
    const ref = service.context.clickRefs.sign({ notificationId: '00000000-0000-0000-0000-000000000000', deliveryId: 1, urlArgs: ['a', 'b'] });
    const [data] = ref.split('.');
    for (const mac of ['é'.repeat(22), '例'.repeat(22), `${'a'.repeat(21)}é`]) {
      for (const method of ['get', 'post'] as const) {
        const res = await expectRejectedCleanly(() => request(service.app)[method](`/click/${data}.${encodeURIComponent(mac)}`));
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('invalid_click_ref');
      }
    }
  });

  test('when the body claims gzip but is not, then 400 and nothing is kept', async () => {
    const res = await expectRejectedCleanly(() => request(service.app).post('/v2/log').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('{"logs":["x"]}'));
    expect(res.status).toBe(400);
  });

  test('when the body has an unknown encoding, then 415', async () => {
    const res = await expectRejectedCleanly(() => request(service.app).post('/v2/log').set('Content-Type', 'application/json').set('Content-Encoding', 'zstd-x').send('{"logs":["x"]}'));
    expect(res.status).toBe(415);
  });

  test('when a header is huge, then the server refuses it without a 5xx', async () => {
    const res = await expectRejectedCleanly(() => request(service.app).get('/api/v1/logs').set('Authorization', bearer).set('X-Junk', 'j'.repeat(20_000)));
    expect(res.status).toBe(431);
  });

  test('when raw bytes that are not HTTP arrive, then the server answers 400 and keeps running', async () => {
    const server = service.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1', () => socket.end('POST /v2/log HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n'));
        let data = '';
        socket.on('data', (chunk) => (data += chunk.toString()));
        socket.on('close', () => resolve(data));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400/);
      expect((await request(server).get('/healthz')).status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
