import request from 'supertest';
import type { Filter } from '../../src/audience/filter';
import { whereFilter } from '../../src/audience/segments';
import { manualClock } from '../../src/clock';
import { apnsEnv, createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, type TestService } from '../helpers/service';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';

const bearer = `Bearer ${API_KEY}`;
const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');

/**
 * Five devices of three users and one anonymous visitor, with attributes, device facts and events
 * chosen so that each operator of the filter language selects a different set.
 */
type Label = 'aliceSafari' | 'aliceChrome' | 'bobFirefox' | 'carolSafari' | 'anonymous';

describe.each(BACKENDS)('segments and the filter language (%s)', (backend) => {
  let apns: ApnsStandIn;
  let database: TestDatabase;
  let service: TestService;
  const tokens = {} as Record<Label, string>;
  const clock = manualClock(NOW);

  beforeAll(async () => {
    const key = createProviderKey();
    apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount: 2 });
    database = createTestDatabase(backend);
    service = await buildService(database, apnsEnv(apns, key), { clock });
    const { devices, audience, db } = service.context;
    const device = async (label: Label, userId: string | null, facts: Record<string, unknown>) => {
      tokens[label] = deviceToken();
      await devices.register({ token: tokens[label], websitePushId: PUSH_ID, userId, now: NOW - 10 * DAY });
      // Device facts as the SDK and the user agent would have left them (their capture is tested with the SDK).
      await db('devices').where({ token: tokens[label] }).update(facts);
    };
    await device('aliceSafari', 'alice', { browser: 'safari', os: 'macos', created_at: NOW - 40 * DAY });
    // Counted as a Web Push device: only the channel column matters to a filter.
    await device('aliceChrome', 'alice', { channel: 'webpush', browser: 'chrome', os: 'windows', language: 'de-DE', timezone: 'Europe/Berlin', last_seen_at: NOW - 2 * DAY });
    await device('bobFirefox', 'bob', { channel: 'webpush', browser: 'firefox', os: 'linux', language: 'en-US', last_seen_at: NOW - 20 * DAY });
    await device('carolSafari', 'carol', { browser: 'safari', os: 'macos' });
    await device('anonymous', null, { channel: 'webpush', browser: 'chrome', os: 'android' });
    await audience.put('alice', { attributes: { plan: 'pro', age: 34, vip: true, tags: ['news', 'sport'], signup: '2026-11-20T10:00:00.000Z', birthday: '1990-05-17' } }, NOW);
    await audience.put('bob', { attributes: { plan: 'free', age: 19, vip: false, tags: ['sport'], signup: '2025-01-01' } }, NOW);
    await audience.put('carol', { attributes: { plan: 'pro', age: 52, name: 'Caroline' } }, NOW);
    const anonymousId = Number((await db('devices').where({ token: tokens.anonymous }).first('id')).id);
    const event = (name: string, userId: string | null, daysAgo: number, properties: Record<string, string | number> | null = null, deviceId: number | null = null) => ({
      name,
      userId,
      deviceId,
      time: NOW - daysAgo * DAY,
      properties,
      clientIp: null,
    });
    await audience.addEvents(
      [
        event('added_to_cart', 'alice', 2, { price: 59, sku: 'A1' }),
        event('purchased', 'alice', 1, { amount: 59 }),
        event('added_to_cart', 'bob', 3, { price: 20, sku: 'B2' }),
        event('added_to_cart', 'bob', 20, { price: 80, sku: 'B3' }),
        event('added_to_cart', null, 1, { price: 100, sku: 'A1' }, anonymousId),
        // After the moment the filters are evaluated at: never counts.
        event('purchased', 'bob', -0.5),
      ],
      NOW,
    );
  });
  afterAll(async () => {
    await service?.close();
    await database?.drop();
    await apns?.close();
  });

  /** The devices a filter selects, read with the same SQL a send and an estimate use. */
  async function selected(filter: Filter): Promise<Label[]> {
    const { db } = service.context;
    const rows = (await whereFilter(db, db('devices').where('devices.website_push_id', PUSH_ID), filter, NOW).select('devices.token')) as Array<{ token: string }>;
    const byToken = new Map(Object.entries(tokens).map(([label, token]) => [token, label as Label]));
    return rows.map((row) => byToken.get(row.token)).filter((label): label is Label => label !== undefined).sort();
  }
  const sorted = (...labels: Label[]) => [...labels].sort();
  const alice: Label[] = ['aliceSafari', 'aliceChrome'];

  test.each<[string, Filter, Label[]]>([
    ['eq', { attribute: 'plan', op: 'eq', value: 'pro' }, [...alice, 'carolSafari']],
    ['ne (a missing attribute is not equal)', { attribute: 'plan', op: 'ne', value: 'pro' }, ['bobFirefox', 'anonymous']],
    ['gt', { attribute: 'age', op: 'gt', value: 34 }, ['carolSafari']],
    ['gte', { attribute: 'age', op: 'gte', value: 34 }, [...alice, 'carolSafari']],
    ['lt', { attribute: 'age', op: 'lt', value: 34 }, ['bobFirefox']],
    ['lte', { attribute: 'age', op: 'lte', value: 34 }, [...alice, 'bobFirefox']],
    ['eq on a number is typed (the string "34" is not 34)', { attribute: 'age', op: 'eq', value: '34' }, []],
    ['eq on a list is typed (its JSON as a string is not the list)', { attribute: 'tags', op: 'eq', value: '["sport"]' }, []],
    ['eq with a string is not a boolean\'s number', { attribute: 'vip', op: 'eq', value: '1' }, []],
    ['in', { attribute: 'plan', op: 'in', value: ['pro', 'trial'] }, [...alice, 'carolSafari']],
    ['not_in', { attribute: 'plan', op: 'not_in', value: ['pro'] }, ['bobFirefox', 'anonymous']],
    ['contains, on a list', { attribute: 'tags', op: 'contains', value: 'sport' }, [...alice, 'bobFirefox']],
    ['contains, on a string', { attribute: 'name', op: 'contains', value: 'Caro' }, ['carolSafari']],
    ['exists', { attribute: 'vip', op: 'exists' }, [...alice, 'bobFirefox']],
    ['not_exists', { attribute: 'vip', op: 'not_exists' }, ['carolSafari', 'anonymous']],
    ['eq true', { attribute: 'vip', op: 'eq', value: true }, alice],
    ['eq false', { attribute: 'vip', op: 'eq', value: false }, ['bobFirefox']],
    ['after', { attribute: 'signup', op: 'after', value: '2026-01-01' }, alice],
    ['before (a calendar date)', { attribute: 'signup', op: 'before', value: '2026-01-01T00:00:00+02:00' }, ['bobFirefox']],
    ['within_last', { attribute: 'signup', op: 'within_last', value: '30d' }, alice],
    ['more_than_ago', { attribute: 'signup', op: 'more_than_ago', value: '26w' }, ['bobFirefox']],
    ['gt on a date', { attribute: 'birthday', op: 'gt', value: '1990-01-01' }, alice],
  ])('attribute %s', async (_name, filter, expected) => {
    expect(await selected(filter)).toEqual(sorted(...expected));
  });

  test.each<[string, Filter, Label[]]>([
    ['channel eq', { device: 'channel', op: 'eq', value: 'safari' }, ['aliceSafari', 'carolSafari']],
    ['browser in', { device: 'browser', op: 'in', value: ['chrome', 'firefox'] }, ['aliceChrome', 'bobFirefox', 'anonymous']],
    ['os ne', { device: 'os', op: 'ne', value: 'macos' }, ['aliceChrome', 'bobFirefox', 'anonymous']],
    ['os not_in', { device: 'os', op: 'not_in', value: ['macos', 'windows'] }, ['bobFirefox', 'anonymous']],
    ['language eq "de" (every German)', { device: 'language', op: 'eq', value: 'de' }, ['aliceChrome']],
    ['language eq "en-US" (exact)', { device: 'language', op: 'eq', value: 'en-US' }, ['bobFirefox']],
    ['timezone exists', { device: 'timezone', op: 'exists' }, ['aliceChrome']],
    ['timezone not_exists', { device: 'timezone', op: 'not_exists' }, ['aliceSafari', 'bobFirefox', 'carolSafari', 'anonymous']],
    ['browser contains', { device: 'browser', op: 'contains', value: 'fox' }, ['bobFirefox']],
    ['lastSeenAt within_last', { device: 'lastSeenAt', op: 'within_last', value: '7d' }, ['aliceChrome']],
    ['lastSeenAt more_than_ago', { device: 'lastSeenAt', op: 'more_than_ago', value: '7d' }, ['bobFirefox']],
    ['subscribedAt before', { device: 'subscribedAt', op: 'before', value: '2026-10-30' }, ['aliceSafari']],
    ['subscribedAt after', { device: 'subscribedAt', op: 'after', value: '2026-10-30' }, ['aliceChrome', 'bobFirefox', 'carolSafari', 'anonymous']],
  ])('device %s', async (_name, filter, expected) => {
    expect(await selected(filter)).toEqual(sorted(...expected));
  });

  test.each<[string, Filter, Label[]]>([
    ['did at least once (a user\'s event reaches all their devices; an anonymous device has its own)', { event: 'added_to_cart' }, [...alice, 'bobFirefox', 'anonymous']],
    ['within', { event: 'added_to_cart', within: '7d' }, [...alice, 'bobFirefox', 'anonymous']],
    ['within, where a property is gt', { event: 'added_to_cart', within: '7d', where: [{ property: 'price', op: 'gt', value: 50 }] }, [...alice, 'anonymous']],
    ['where a string property eq', { event: 'added_to_cart', where: [{ property: 'sku', op: 'eq', value: 'A1' }] }, [...alice, 'anonymous']],
    ['count gte 2', { event: 'added_to_cart', count: { op: 'gte', value: 2 } }, ['bobFirefox']],
    ['count ne 1', { event: 'added_to_cart', count: { op: 'ne', value: 1 } }, ['bobFirefox', 'carolSafari']],
    ['count eq 0 (did not; a later event does not count)', { event: 'purchased', count: { op: 'eq', value: 0 } }, ['bobFirefox', 'carolSafari', 'anonymous']],
    ['count lt 1 within (did not, lately)', { event: 'added_to_cart', count: { op: 'lt', value: 1 }, within: '36h' }, [...alice, 'bobFirefox', 'carolSafari']],
  ])('event %s', async (_name, filter, expected) => {
    expect(await selected(filter)).toEqual(sorted(...expected));
  });

  test.each<[string, Filter, Label[]]>([
    ['all: added to the cart this week but did not buy', { all: [{ event: 'added_to_cart', within: '7d' }, { event: 'purchased', within: '7d', count: { op: 'eq', value: 0 } }] }, ['bobFirefox', 'anonymous']],
    ['all: an attribute and a device fact', { all: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { device: 'channel', op: 'eq', value: 'webpush' }] }, ['aliceChrome']],
    ['any', { any: [{ attribute: 'plan', op: 'eq', value: 'free' }, { device: 'browser', op: 'eq', value: 'safari' }] }, ['aliceSafari', 'bobFirefox', 'carolSafari']],
    ['not', { not: { attribute: 'plan', op: 'eq', value: 'pro' } }, ['bobFirefox', 'anonymous']],
    ['not of any', { not: { any: [{ device: 'os', op: 'eq', value: 'macos' }, { attribute: 'age', op: 'lt', value: 30 }] } }, ['aliceChrome', 'anonymous']],
    [
      'attribute, device fact and event count together',
      { all: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { device: 'language', op: 'eq', value: 'de' }, { event: 'added_to_cart', within: '7d', count: { op: 'gte', value: 1 } }] },
      ['aliceChrome'],
    ],
    ['nested all inside any inside all', { all: [{ any: [{ all: [{ attribute: 'vip', op: 'exists' }, { attribute: 'age', op: 'gte', value: 30 }] }, { device: 'os', op: 'eq', value: 'android' }] }] }, [...alice, 'anonymous']],
  ])('combination %s', async (_name, filter, expected) => {
    expect(await selected(filter)).toEqual(sorted(...expected));
  });

  const api = () => request(service.app);

  test('when the reach of a filter is estimated, then users and devices per channel are exact', async () => {
    const res = await api().post('/api/v1/segments/estimate').set('Authorization', bearer).send({ filter: { event: 'added_to_cart' } }).expect(200);
    expect(res.body).toEqual({ users: 2, devices: { safari: 1, webpush: 3, all: 4 } });
  });

  test('when a segment is saved, listed, estimated, edited and deleted, then each answer says so; a create is idempotent', async () => {
    const filter = { attribute: 'plan', op: 'eq', value: 'pro' };
    const created = await api().post('/api/v1/segments').set('Authorization', bearer).set('Idempotency-Key', 'seg-1').send({ name: 'Pro users', filter }).expect(201);
    expect(created.body).toEqual({ id: expect.any(String), name: 'Pro users', filter, createdAt: new Date(NOW).toISOString(), updatedAt: new Date(NOW).toISOString() });
    const replay = await api().post('/api/v1/segments').set('Authorization', bearer).set('Idempotency-Key', 'seg-1').send({ name: 'Pro users', filter }).expect(201);
    expect(replay.body.id).toBe(created.body.id);
    const listed = await api().get('/api/v1/segments').set('Authorization', bearer).expect(200);
    expect(listed.body.items.filter((s: { name: string }) => s.name === 'Pro users')).toHaveLength(1);
    const reach = await api().post('/api/v1/segments/estimate').set('Authorization', bearer).send({ segmentId: created.body.id }).expect(200);
    expect(reach.body).toEqual({ users: 2, devices: { safari: 2, webpush: 1, all: 3 } });
    const edited = await api().put(`/api/v1/segments/${created.body.id}`).set('Authorization', bearer).send({ name: 'Free users', filter: { attribute: 'plan', op: 'eq', value: 'free' } }).expect(200);
    expect(edited.body).toMatchObject({ id: created.body.id, name: 'Free users' });
    expect((await api().get(`/api/v1/segments/${created.body.id}`).set('Authorization', bearer).expect(200)).body.filter).toEqual({ attribute: 'plan', op: 'eq', value: 'free' });
    await api().delete(`/api/v1/segments/${created.body.id}`).set('Authorization', bearer).expect(204);
    await api().get(`/api/v1/segments/${created.body.id}`).set('Authorization', bearer).expect(404);
    await api().delete(`/api/v1/segments/${created.body.id}`).set('Authorization', bearer).expect(404);
    await api().post('/api/v1/segments/estimate').set('Authorization', bearer).send({ segmentId: created.body.id }).expect(404);
  });

  test('when a send targets a segment, then exactly its devices get it, and editing the segment afterwards does not change the send', async () => {
    apns.reset();
    const segment = await api().post('/api/v1/segments').set('Authorization', bearer).send({ name: 'Safari pros', filter: { all: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { device: 'channel', op: 'eq', value: 'safari' }] } }).expect(201);
    const sent = await api().post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 'Hi pros', body: 'News', urlArgs: ['a', 'b'], to: { segment: segment.body.id } }).expect(200);
    expect(sent.body.counts).toMatchObject({ targeted: 2, sent: 2 });
    expect(apns.requests.map((r) => r.token).sort()).toEqual([tokens.aliceSafari, tokens.carolSafari].sort());
    expect(sent.body.to).toMatchObject({ segment: segment.body.id, filter: segment.body.filter });
    await api().put(`/api/v1/segments/${segment.body.id}`).set('Authorization', bearer).send({ name: 'Changed', filter: { device: 'channel', op: 'eq', value: 'webpush' } }).expect(200);
    expect((await api().get(`/api/v1/notifications/${sent.body.id}`).set('Authorization', bearer).expect(200)).body.to.filter).toEqual(segment.body.filter);
  });

  test('when a send targets a filter inline, then its devices get it; a filter nobody matches is a 400 no_devices and an unknown segment a 400', async () => {
    apns.reset();
    const sent = await api()
      .post('/api/v1/notifications?wait=true')
      .set('Authorization', bearer)
      .send({ title: 'Still thinking?', body: 'Your cart', urlArgs: ['a', 'b'], to: { filter: { all: [{ event: 'added_to_cart', within: '7d' }, { device: 'channel', op: 'eq', value: 'safari' }] } } })
      .expect(200);
    expect(sent.body.counts).toMatchObject({ targeted: 1, sent: 1 });
    expect(apns.requests.map((r) => r.token)).toEqual([tokens.aliceSafari]);
    const none = await api().post('/api/v1/notifications').set('Authorization', bearer).send({ title: 'x', body: 'y', urlArgs: ['a', 'b'], to: { filter: { attribute: 'plan', op: 'eq', value: 'enterprise' } } });
    expect(none.status).toBe(400);
    expect(none.body.error.code).toBe('no_devices');
    const unknown = await api().post('/api/v1/notifications').set('Authorization', bearer).send({ title: 'x', body: 'y', urlArgs: ['a', 'b'], to: { segment: '00000000-0000-4000-8000-000000000000' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_segment');
  });

  const deep = (levels: number): object => (levels === 0 ? { attribute: 'a', op: 'exists' } : { not: deep(levels - 1) });
  test.each<[string, unknown, string]>([
    ['an empty all', { all: [] }, 'filter.all: all takes a non-empty list'],
    ['an unknown operator', { attribute: 'plan', op: 'between', value: 1 }, 'filter.op: "between" is not an operator'],
    ['an unknown device fact, deep inside', { all: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { any: [{ device: 'cpu', op: 'eq', value: 'x' }] }] }, 'filter.all[1].any[0].device: "cpu" is not a device fact'],
    ['a bad duration', { event: 'x', within: '7 days' }, 'filter.within: within takes a duration'],
    ['a bad attribute name', { attribute: 'first-name', op: 'exists' }, 'filter.attribute: "first-name" is not an attribute name'],
    ['in without a list', { attribute: 'plan', op: 'in', value: 'pro' }, 'filter.value: in takes a list'],
    ['exists with a value', { attribute: 'plan', op: 'exists', value: 1 }, 'filter.value: exists takes no value'],
    ['an unknown key', { attribute: 'plan', op: 'eq', value: 'x', limit: 3 }, 'filter: unknown field "limit"'],
    ['a count that is negative', { event: 'x', count: { op: 'gte', value: -1 } }, 'filter.count.value'],
    ['a property condition on a bad property name', { event: 'x', where: [{ property: 'a b', op: 'eq', value: 1 }] }, 'filter.where[0].property'],
    ['before on a time fact without a date', { device: 'lastSeenAt', op: 'before', value: 'yesterday' }, 'filter.value: before takes an ISO 8601 date'],
    ['eq on a text fact with a number', { device: 'browser', op: 'eq', value: 3 }, 'filter.value: eq on this fact takes a string'],
    ['nesting past 8 levels', deep(9), 'nests at most 8 levels'],
    ['more than 100 parts', { any: Array.from({ length: 100 }, () => ({ attribute: 'a', op: 'exists' })) }, 'at most 100 parts'],
    ['not an object', [1, 2], 'filter: each part of a filter is an object'],
    ['more SQL values than a statement takes', { any: Array.from({ length: 99 }, () => ({ attribute: 'a', op: 'not_in', value: Array.from({ length: 100 }, (_, i) => i) })) }, 'the filter is too large'],
  ])('when a filter has %s, then 400 invalid_filter names the part, for estimates, segments and sends alike', async (_what, filter, message) => {
    const estimate = await api().post('/api/v1/segments/estimate').set('Authorization', bearer).send({ filter });
    expect(estimate.status).toBe(400);
    expect(estimate.body.error.code).toBe('invalid_filter');
    expect(estimate.body.error.message).toContain(message);
    const before = (await api().get('/api/v1/segments?limit=200').set('Authorization', bearer)).body.items.length;
    expect((await api().post('/api/v1/segments').set('Authorization', bearer).send({ name: 'bad', filter })).status).toBe(400);
    expect((await api().get('/api/v1/segments?limit=200').set('Authorization', bearer)).body.items.length).toBe(before);
    const send = await api().post('/api/v1/notifications').set('Authorization', bearer).send({ title: 'x', body: 'y', urlArgs: ['a', 'b'], to: { filter } });
    expect(send.status).toBe(400);
    expect(send.body.error.message).toContain(message.replace(/^filter/, 'to.filter'));
  });
});
