import request from 'supertest';
import type { StandInSubscription } from '../../src/webpush-stand-in/server';
import { deviceToken } from '../helpers/apns';
import { BACKENDS } from '../helpers/databases';
import { MAX_ACTIONS, parseDeclarative } from '../helpers/declarative';
import { API_KEY, PUSH_ID } from '../helpers/service';
import { SITE_ORIGIN, useBothStandIns } from '../helpers/webpush';

const bearer = `Bearer ${API_KEY}`;
const RICH = {
  url: 'https://example.com/flights/A998?from=push',
  image: 'https://cdn.example.com/gate-4.jpg',
  badge: 'https://cdn.example.com/badge.png',
  icon: 'https://cdn.example.com/icon.png',
  requireInteraction: true,
  silent: false,
  renotify: true,
  collapseId: 'flight-a998',
  timestamp: '2026-12-01T08:30:00Z',
  lang: 'de-DE',
  dir: 'ltr',
  data: { flight: 'A998', gate: 4, tags: ['boarding'] },
  actions: [
    { title: 'Boarding pass', url: 'https://example.com/pass/A998', icon: 'https://cdn.example.com/pass.png' },
    { title: 'Change seat', url: 'https://example.com/seat/A998' },
  ],
  appBadge: 3,
};

describe.each(BACKENDS)('rich Web Push notifications and declarative push messages (%s)', (backend) => {
  const ctx = useBothStandIns(backend, 1, { CLICK_TRACKING: 'true' });
  const subscribe = async (userId: string): Promise<StandInSubscription> => {
    const subscription = ctx.push.subscribe();
    await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId }).expect(201);
    return subscription;
  };
  const send = (body: object) => request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send(body);
  const payloadOf = (subscription: StandInSubscription) => ctx.push.received.filter((r) => r.subscriptionId === subscription.id).at(-1)?.payload as string;
  const stored = async () => Number((await ctx.service.context.db('notifications').count<{ n: number }[]>({ n: '*' }))[0].n);

  test('when a send has every rich field, then the push service gets a declarative message a browser parses, with every field and click links per target', async () => {
    const subscription = await subscribe('rich');
    const res = await send({ title: 'Flight A998', body: 'Boarding at gate 4', urlArgs: ['x', 'y'], to: { users: ['rich'] }, ...RICH });
    expect(res.body).toMatchObject({ status: 'completed', counts: { sent: 1, clicked: 0, clickedActions: [0, 0] } });
    const parsed = parseDeclarative(payloadOf(subscription));
    expect(parsed.title).toBe('Flight A998');
    expect(parsed.mutable).toBe(true);
    expect(parsed.appBadge).toBe(3);
    expect(parsed.options).toEqual({
      body: 'Boarding at gate 4',
      icon: RICH.icon,
      image: RICH.image,
      badge: RICH.badge,
      tag: 'flight-a998',
      renotify: true,
      silent: false,
      requireInteraction: true,
      lang: 'de-DE',
      dir: 'ltr',
      timestamp: Date.parse(RICH.timestamp),
      data: RICH.data,
    });
    expect(parsed.actions.length).toBeLessThanOrEqual(MAX_ACTIONS);
    expect(parsed.actions.map((a) => [a.action, a.title, a.icon?.href])).toEqual([
      ['action-1', 'Boarding pass', 'https://cdn.example.com/pass.png'],
      ['action-2', 'Change seat', undefined],
    ]);
    // Click tracking: each target is its own signed link on this service, redirecting to its page.
    const links = [parsed.navigate, ...parsed.actions.map((a) => a.navigate)];
    expect(new Set(links.map((l) => l.href)).size).toBe(3);
    for (const link of links) expect(link.origin).toBe('https://push.example.com');
    const second = await request(ctx.service.app).get(links[2].pathname).expect(302);
    expect(second.headers.location).toBe('https://example.com/seat/A998');
    const after = (await request(ctx.service.app).get(`/api/v1/notifications/${res.body.id}`).set('Authorization', bearer)).body.counts;
    expect(after).toMatchObject({ clicked: 1, clickedActions: [0, 1] });
    const [delivery] = (await request(ctx.service.app).get(`/api/v1/notifications/${res.body.id}/deliveries`).set('Authorization', bearer)).body.items;
    expect(delivery).toMatchObject({ clickedAction: 1, clickedAt: expect.any(String) });
    // The notification itself and the first button lead to their own pages.
    expect((await request(ctx.service.app).get(links[0].pathname).expect(302)).headers.location).toBe(RICH.url);
    expect((await request(ctx.service.app).get(links[1].pathname).expect(302)).headers.location).toBe('https://example.com/pass/A998');
  });

  test('when 20 subscriptions get one rich send, then each gets its own links and a click on a button of each counts for that button', async () => {
    const subscriptions = await Promise.all(Array.from({ length: 20 }, () => subscribe('many')));
    const res = await send({ title: 't', body: 'b', urlArgs: ['x', 'y'], to: { users: ['many'] }, actions: RICH.actions });
    expect(res.body.counts).toMatchObject({ sent: 20 });
    for (const [i, subscription] of subscriptions.entries()) {
      const parsed = parseDeclarative(payloadOf(subscription));
      await request(ctx.service.app).get(parsed.actions[i % 2].navigate.pathname).expect(302);
    }
    const counts = (await request(ctx.service.app).get(`/api/v1/notifications/${res.body.id}`).set('Authorization', bearer)).body.counts;
    expect(counts).toMatchObject({ clicked: 20, clickedActions: [10, 10] });
  });

  test('when a Safari device is sent the same rich notification, then APNs gets only what Safari shows', async () => {
    const token = deviceToken();
    await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'safari-rich', now: Date.now() });
    const res = await send({ title: 'Flight A998', body: 'Boarding', urlArgs: ['x', 'y'], to: { users: ['safari-rich'] }, ...RICH });
    expect(res.body.counts).toMatchObject({ sent: 1 });
    const [apnsRequest] = ctx.apns.requests.filter((r) => r.token === token);
    const aps = (apnsRequest.payload as { aps: Record<string, unknown> }).aps;
    expect(Object.keys(apnsRequest.payload as object)).toEqual(['aps']);
    expect(Object.keys(aps).sort()).toEqual(['alert', 'url-args']);
  });

  test.each([
    ['image over http', { image: 'http://cdn.example.com/a.jpg' }, /image must be an https:\/\/ URL/],
    ['badge not a URL', { badge: 'badge.png' }, /badge must be an https:\/\/ URL/],
    ['url with javascript:', { url: 'javascript:alert(1)' }, /url must be an absolute http/],
    ['renotify without collapseId', { renotify: true }, /renotify needs collapseId/],
    ['three actions', { actions: [RICH.actions[0], RICH.actions[1], RICH.actions[0]] }, /at most 2 buttons/],
    ['an action without url', { actions: [{ title: 'x' }] }, /actions/],
    ['an action with an unknown field', { actions: [{ title: 'x', url: 'https://example.com', action: 'y' }] }, /action/],
    ['data over 1 KB', { data: { text: 'x'.repeat(1100) } }, /data is \d+ bytes as JSON, at most 1024/],
    ['data a list', { data: [1, 2] }, /data must be a JSON object/],
    ['data with a lone surrogate', { data: { text: 'a\ud800b' } }, /lone UTF-16 surrogates/],
    ['appBadge negative', { appBadge: -1 }, /appBadge/],
    ['appBadge fractional', { appBadge: 1.5 }, /appBadge/],
    ['lang not a tag', { lang: 'english please' }, /BCP 47/],
    ['dir unknown', { dir: 'up' }, /dir/],
    ['timestamp not a date', { timestamp: 'yesterday' }, /timestamp must be milliseconds since 1970 or an ISO 8601 date-time/],
    ['requireInteraction a string', { requireInteraction: 'yes' }, /requireInteraction/],
    ['a button title over 128 characters', { actions: [{ title: 't'.repeat(129), url: 'https://example.com/' }] }, /actions/],
    ['a url over 2048 characters', { url: `https://example.com/${'p'.repeat(2040)}` }, /url must be at most 2048 characters/],
    ['an image URL over 2048 characters', { image: `https://cdn.example.com/${'i'.repeat(2040)}` }, /image must be at most 2048 characters/],
    ['a timestamp before 1970', { timestamp: '0000-01-01T00:00:00Z' }, /timestamp must not be before 1970/],
  ])('when a send has %s, then it is refused with 400 and nothing is stored', async (_name, fields, message) => {
    await subscribe('refused');
    const before = await stored();
    const res = await send({ title: 't', body: 'b', urlArgs: ['x', 'y'], to: { users: ['refused'] }, ...fields });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(message);
    expect(await stored()).toBe(before);
  });

  test('when data nests 6,000 levels deep, then 400 naming the depth (JSON.stringify would run out of stack), with and without an Idempotency-Key', async () => {
    await subscribe('deep');
    const before = await stored();
    const deep = `${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`;
    const raw = `{"title":"t","body":"b","urlArgs":["x","y"],"to":{"users":["deep"]},"data":${deep}}`;
    const plain = await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).set('Content-Type', 'application/json').send(raw);
    expect(plain.status).toBe(400);
    expect(plain.body.error.message).toMatch(/data nests deeper than 16 levels/);
    const keyed = await request(ctx.service.app).post('/api/v1/notifications').set('Authorization', bearer).set('Idempotency-Key', 'deep-1').set('Content-Type', 'application/json').send(raw);
    expect(keyed.status).toBe(400);
    expect(await stored()).toBe(before);
  });

  test('when the rich fields with click links would not fit in one 4 KB encrypted record, then the send is refused before anything is stored', async () => {
    await subscribe('too-big');
    const before = await stored();
    const res = await send({ title: 't'.repeat(1000), body: 'b'.repeat(1500), urlArgs: ['x', 'y'], to: { users: ['too-big'] }, data: { note: 'n'.repeat(900) }, actions: RICH.actions, image: `https://cdn.example.com/${'i'.repeat(300)}.jpg` });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_notification', message: expect.stringMatching(/Web Push payload is \d+ bytes, push services accept at most 3993/) });
    expect(await stored()).toBe(before);
  });
});
