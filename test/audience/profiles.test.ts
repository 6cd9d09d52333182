import request from 'supertest';
import { manualClock } from '../../src/clock';
import { apnsEnv, createProviderKey, deviceToken, standIn, useApnsService } from '../helpers/apns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID } from '../helpers/service';

const bearer = `Bearer ${API_KEY}`;
const DAY = 86_400_000;

describe.each(BACKENDS)('user profiles and events (%s)', (backend) => {
  const ctx = useApnsService(backend, { topics: [PUSH_ID], urlArgsCount: 2 });
  const api = () => request(ctx.service.app);
  const put = (userId: string, body: object) => api().put(`/api/v1/users/${encodeURIComponent(userId)}`).set('Authorization', bearer).send(body);
  const patch = (userId: string, body: object) => api().patch(`/api/v1/users/${encodeURIComponent(userId)}`).set('Authorization', bearer).send(body);
  const get = (userId: string) => api().get(`/api/v1/users/${encodeURIComponent(userId)}`).set('Authorization', bearer);
  const events = (body: object) => api().post('/api/v1/events').set('Authorization', bearer).send(body);
  const register = (token: string, userId: string | null) => ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId, now: Date.now() });

  test('when a profile is put, then it is stored with typed attributes, time zone and language in canonical form, and GET returns it with its devices', async () => {
    const token = deviceToken();
    await register(token, 'u-put');
    const res = await put('u-put', {
      attributes: { firstName: 'Ada', plan: 'pro', visits: 12, vip: true, birthday: '1990-05-17', renewsAt: '2027-01-01T10:00:00+01:00', tags: ['news', 'sport'] },
      timezone: 'Europe/Berlin',
      language: 'pt-br',
      test: true,
    }).expect(200);
    expect(res.body).toMatchObject({
      userId: 'u-put',
      attributes: { firstName: 'Ada', plan: 'pro', visits: 12, vip: true, birthday: '1990-05-17', renewsAt: '2027-01-01T09:00:00.000Z', tags: ['news', 'sport'] },
      timezone: 'Europe/Berlin',
      language: 'pt-BR',
      test: true,
      lastSeenAt: null,
    });
    const again = await get('u-put').expect(200);
    expect(again.body.attributes).toEqual(res.body.attributes);
    expect(again.body.devices).toEqual([expect.objectContaining({ token, channel: 'safari', subscribedAt: expect.any(String) })]);

    // PUT replaces: what is not given is gone.
    const replaced = await put('u-put', { attributes: { plan: 'free' } }).expect(200);
    expect(replaced.body).toMatchObject({ attributes: { plan: 'free' }, timezone: null, language: null, test: false });
    expect(replaced.body.createdAt).toBe(res.body.createdAt);
  });

  test('when a profile is patched, then attributes merge, null removes one, and other fields stay', async () => {
    await put('u-patch', { attributes: { a: 'one', b: 2 }, timezone: 'America/New_York' }).expect(200);
    const res = await patch('u-patch', { attributes: { b: null, c: false }, language: 'de' }).expect(200);
    expect(res.body).toMatchObject({ attributes: { a: 'one', c: false }, timezone: 'America/New_York', language: 'de' });
    expect(res.body.attributes).not.toHaveProperty('b');
    // PATCH of a new user creates the profile.
    expect((await patch('u-patch-new', { attributes: { x: 1 } }).expect(200)).body.attributes).toEqual({ x: 1 });
  });

  test('when a user is known only by devices, then GET shows an empty profile with the devices; an unknown user is a 404', async () => {
    const token = deviceToken();
    await register(token, 'u-devices-only');
    const res = await get('u-devices-only').expect(200);
    expect(res.body).toMatchObject({ userId: 'u-devices-only', attributes: {}, devices: [expect.objectContaining({ token })] });
    expect((await get('nobody-at-all').expect(404)).body.error.code).toBe('not_found');
  });

  test.each([
    ['a bad attribute name', { attributes: { 'first-name': 'x' } }],
    ['an attribute that is an object', { attributes: { nested: { a: 1 } } }],
    ['a list of numbers', { attributes: { tags: [1, 2] } }],
    ['an impossible date', { attributes: { day: '2026-02-30' } }],
    ['a string over 1024 characters', { attributes: { long: 'x'.repeat(1025) } }],
    ['101 attributes', { attributes: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`a${i}`, i])) }],
    ['an unknown time zone', { attributes: {}, timezone: 'Mars/Olympus' }],
    ['an offset instead of a zone', { attributes: {}, timezone: '+01:00' }],
    ['a malformed language', { attributes: {}, language: 'english!' }],
    ['a NUL in a value', { attributes: { a: 'x\u0000y' } }],
    ['an unknown field', { attributes: {}, email: 'a@example.com' }],
  ])('when a profile has %s, then 400 and nothing is stored', async (_what, body) => {
    const res = await put('u-bad', body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/Invalid profile/);
    await get('u-bad').expect(404);
  });

  test('when a merge would take a profile past 100 attributes, then 400 and the profile is unchanged', async () => {
    await put('u-many', { attributes: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`a${i}`, i])) }).expect(200);
    const res = await patch('u-many', { attributes: { one_more: 1 } }).expect(400);
    expect(res.body.error.code).toBe('too_many_attributes');
    expect(Object.keys((await get('u-many').expect(200)).body.attributes)).toHaveLength(100);
  });

  test('when users come in a batch, then each merges; a bad one anywhere stores none of them', async () => {
    const users = Array.from({ length: 250 }, (_, i) => ({ userId: `batch-${i}`, attributes: { n: i } }));
    expect((await api().post('/api/v1/users/batch').set('Authorization', bearer).send({ users }).expect(200)).body).toEqual({ stored: 250 });
    expect((await get('batch-249').expect(200)).body.attributes).toEqual({ n: 249 });
    const bad = await api()
      .post('/api/v1/users/batch')
      .set('Authorization', bearer)
      .send({ users: [{ userId: 'batch-new', attributes: { n: 1 } }, { userId: 'batch-0', attributes: { 'bad name': 1 } }] })
      .expect(400);
    expect(bad.body.error.message).toContain('users.1.attributes');
    await get('batch-new').expect(404);
    expect((await api().post('/api/v1/users/batch').set('Authorization', bearer).send({ users: [{ userId: 'd' }, { userId: 'd' }] }).expect(400)).body.error.code).toBe('duplicate_user');
    expect((await api().post('/api/v1/users/batch').set('Authorization', bearer).send({ users: Array.from({ length: 1001 }, (_, i) => ({ userId: `x${i}` })) }).expect(400)).body.error.message).toContain('at most 1000');
  });

  test('when events are posted by user and by device token, then 202 accepted, a token\'s event belongs to its user too, and they list newest first, paged', async () => {
    const token = deviceToken();
    await register(token, 'u-events');
    const anonymous = deviceToken();
    await register(anonymous, null);
    const now = Date.now();
    const res = await events({
      events: [
        { name: 'viewed', userId: 'u-events', time: now - 3000, properties: { page: '/a' } },
        { name: 'added_to_cart', token: token.toUpperCase(), time: new Date(now - 2000).toISOString(), properties: { price: 59.5, sku: 'A1' } },
        { name: 'viewed', token: anonymous },
        { name: 'viewed', token: deviceToken() },
      ],
    }).expect(202);
    expect(res.body).toEqual({ accepted: 3, unknownTokens: 1 });
    const first = await api().get('/api/v1/users/u-events/events?limit=1').set('Authorization', bearer).expect(200);
    expect(first.body.items).toEqual([{ id: expect.any(String), name: 'added_to_cart', time: new Date(now - 2000).toISOString(), properties: { price: 59.5, sku: 'A1' }, userId: 'u-events' }]);
    const second = await api().get(`/api/v1/users/u-events/events?limit=1&cursor=${first.body.nextCursor}`).set('Authorization', bearer).expect(200);
    expect(second.body.items.map((e: { name: string }) => e.name)).toEqual(['viewed']);
    expect(second.body.nextCursor).toBeNull();
  });

  test.each([
    ['no user and no token', { events: [{ name: 'x' }] }, 'validation_failed'],
    ['both a user and a token', { events: [{ name: 'x', userId: 'a', token: deviceToken() }] }, 'validation_failed'],
    ['a token that is not one', { events: [{ name: 'x', token: 'nope' }] }, 'invalid_token'],
    ['a time two days ahead', { events: [{ name: 'x', userId: 'a', time: Date.now() + 2 * DAY }] }, 'invalid_event_time'],
    ['a time past retention', { events: [{ name: 'x', userId: 'a', time: Date.now() - 91 * DAY }] }, 'invalid_event_time'],
    ['a name over 64 characters', { events: [{ name: 'x'.repeat(65), userId: 'a' }] }, 'validation_failed'],
    ['properties over 4 KB', { events: [{ name: 'x', userId: 'a', properties: { p: 'x'.repeat(1000), q: 'x'.repeat(1000), r: 'x'.repeat(1000), s: 'x'.repeat(1000), t: 'x'.repeat(200) } }] }, 'validation_failed'],
    ['1001 events', { events: Array.from({ length: 1001 }, () => ({ name: 'x', userId: 'a' })) }, 'validation_failed'],
  ])('when an event batch has %s, then 400 (%s) and no event of it is stored', async (_what, body, code) => {
    const before = (await ctx.service.context.audience.events('a', { limit: 200 })).items.length;
    const good = { name: 'fine', userId: 'a' };
    const res = await events({ events: [good, ...(body as { events: object[] }).events] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect((await ctx.service.context.audience.events('a', { limit: 200 })).items.length).toBe(before);
  });

  test('when an event batch is retried with the same Idempotency-Key, then its events are stored once', async () => {
    const body = { events: [{ name: 'purchased', userId: 'u-idem', properties: { amount: 10 } }] };
    await events(body).set('Idempotency-Key', 'events-once').expect(202);
    const replay = await events(body).set('Idempotency-Key', 'events-once').expect(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect((await ctx.service.context.audience.events('u-idem', { limit: 10 })).items).toHaveLength(1);
  });

  test('when a user is exported, then one document holds the profile, devices, events and each notification they got with its outcome and click', async () => {
    const token = deviceToken();
    await register(token, 'u-export');
    await put('u-export', { attributes: { firstName: 'Grace' } }).expect(200);
    await events({ events: [{ name: 'signed_up', userId: 'u-export' }] }).expect(202);
    const sent = await api().post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 'Hi', body: 'There', urlArgs: ['a', 'b'], to: { users: ['u-export'] } }).expect(200);
    const [delivery] = (await ctx.service.context.notifications.deliveries(sent.body.id, { limit: 10 })).items;
    await ctx.service.context.notifications.recordClick(sent.body.id, delivery.id, Date.now());

    const res = await api().get('/api/v1/users/u-export/export').set('Authorization', bearer).expect(200);
    expect(res.headers['content-disposition']).toContain('attachment');
    expect(res.body).toMatchObject({
      userId: 'u-export',
      profile: { attributes: { firstName: 'Grace' } },
      devices: [expect.objectContaining({ token, channel: 'safari' })],
      events: [expect.objectContaining({ name: 'signed_up' })],
      notifications: [expect.objectContaining({ id: sent.body.id, title: 'Hi', body: 'There', outcome: 'sent', status: 200, clickedAt: expect.any(String) })],
    });
    await api().get('/api/v1/users/nobody-here/export').set('Authorization', bearer).expect(404);
  });

  test('when a user is erased, then profile, devices and events are gone, their deliveries keep the counts without the token, and a second erase is still 204', async () => {
    const token = deviceToken();
    const anonymousEventDevice = deviceToken();
    await register(token, 'u-erase');
    await put('u-erase', { attributes: { email_opt_in: true } }).expect(200);
    await events({ events: [{ name: 'opened', userId: 'u-erase' }] }).expect(202);
    const sent = await api().post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 'Hi', body: 'There', urlArgs: ['a', 'b'], to: { users: ['u-erase'] } }).expect(200);
    await register(anonymousEventDevice, null);

    await api().delete('/api/v1/users/u-erase').set('Authorization', bearer).expect(204);
    await get('u-erase').expect(404);
    expect(await ctx.service.context.devices.findByToken(token)).toBeUndefined();
    expect((await ctx.service.context.audience.events('u-erase', { limit: 10 })).items).toEqual([]);
    const status = await api().get(`/api/v1/notifications/${sent.body.id}`).set('Authorization', bearer).expect(200);
    expect(status.body.counts).toMatchObject({ targeted: 1, sent: 1 });
    const deliveries = (await ctx.service.context.notifications.deliveries(sent.body.id, { limit: 10 })).items;
    expect(deliveries).toEqual([expect.objectContaining({ token: 'erased', deviceId: null, outcome: 'sent' })]);
    expect(JSON.stringify(await ctx.service.context.audience.exportUser('u-erase'))).not.toContain(token);
    // Someone else's anonymous device is untouched.
    expect(await ctx.service.context.devices.findByToken(anonymousEventDevice)).toBeDefined();
    await api().delete('/api/v1/users/u-erase').set('Authorization', bearer).expect(204);
  });

  test('when the audience API is called without the API key, then 401 and nothing changes', async () => {
    await api().put('/api/v1/users/intruder').send({ attributes: {} }).expect(401);
    await api().post('/api/v1/events').send({ events: [{ name: 'x', userId: 'intruder' }] }).expect(401);
    await api().delete('/api/v1/users/u-put').expect(401);
    await get('intruder').expect(404);
  });
});

describe.each(BACKENDS)('event retention (%s)', (backend) => {
  test('when events pass EVENT_RETENTION_DAYS, then housekeeping deletes them and keeps the younger ones', async () => {
    const key = createProviderKey();
    const apns = await standIn({ providerKeys: [key] });
    const database = createTestDatabase(backend);
    const clock = manualClock(Date.parse('2026-06-01T00:00:00Z'));
    const service = await buildService(database, { ...apnsEnv(apns, key), EVENT_RETENTION_DAYS: '30' }, { clock });
    await service.context.housekeeping!.stop(); // rounds by hand only: the timed one would race the count
    try {
      const start = clock.now();
      await service.context.audience.addEvents(
        [
          { name: 'old', userId: 'r', deviceId: null, time: start - 10 * DAY, properties: null, clientIp: null },
          { name: 'young', userId: 'r', deviceId: null, time: start, properties: null, clientIp: null },
        ],
        start,
      );
      clock.advance(25 * DAY);
      expect((await service.context.housekeeping?.runOnce())?.events).toBe(1);
      expect((await service.context.audience.events('r', { limit: 10 })).items.map((e) => e.name)).toEqual(['young']);
    } finally {
      await service.close();
      await database.drop();
      await apns.close();
    }
  });
});
