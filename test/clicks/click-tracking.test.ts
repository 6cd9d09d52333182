import request from 'supertest';
import { buildTargetUrl } from '../../src/clicks/target-url';
import { deviceToken } from '../helpers/apns';
import { BACKENDS } from '../helpers/databases';
import { fetchPackage } from '../helpers/package';
import { API_KEY, PUSH_ID } from '../helpers/service';
import { SITE_ORIGIN, useBothStandIns } from '../helpers/webpush';

const bearer = `Bearer ${API_KEY}`;

describe('buildTargetUrl', () => {
  test('when url-args fill the site format string, then each is percent-encoded and the URL stays on the site', () => {
    expect(buildTargetUrl('https://example.com/%@/?ref=%@', ['boarding', 'A998'])).toBe('https://example.com/boarding/?ref=A998');
    expect(buildTargetUrl('https://example.com/%@/?ref=%@', ['a b/c', 'x&y=z'])).toBe('https://example.com/a%20b%2Fc/?ref=x%26y%3Dz');
  });
  test('when url-args try to reach another host, then they cannot: the result stays on the site or there is none', () => {
    expect(new URL(buildTargetUrl('https://example.com/%@/?ref=%@', ['//evil.com', '@evil.com']) as string).origin).toBe('https://example.com');
    expect(buildTargetUrl('https://example.com%@', ['.evil.com'])).toBeUndefined();
    expect(buildTargetUrl('https://example.com/%@', [])).toBeUndefined();
  });
});

describe.each(BACKENDS)('click tracking (%s)', (backend) => {
  // With tracking, Safari's url-args are one signed reference.
  const ctx = useBothStandIns(backend, 1, { CLICK_TRACKING: 'true' });
  const counts = async (id: string) => (await request(ctx.service.app).get(`/api/v1/notifications/${id}`).set('Authorization', bearer).expect(200)).body.counts;

  test('when tracking is on, then the push package sends Safari clicks to the service', async () => {
    const { files } = await fetchPackage(ctx.service, 'v2', { userId: 'u' });
    expect(JSON.parse(files.get('website.json')!.toString('utf8')).urlFormatString).toBe('https://push.example.com/click/%@');
  });

  test('when a Safari notification is clicked, then the click is counted once per device and the browser lands on the site URL', async () => {
    const tokens = [deviceToken(), deviceToken()];
    for (const token of tokens) await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'clicker', now: Date.now() });
    const sent = await request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['gate 4', 'A998'], to: { users: ['clicker'] } });
    expect(sent.body.counts).toMatchObject({ sent: 2, clicked: 0 });
    const refs = ctx.apns.requests.filter((r) => tokens.includes(r.token)).map((r) => (r.payload as { aps: { 'url-args': string[] } }).aps['url-args']);
    expect(refs).toHaveLength(2);
    expect(refs[0][0]).not.toBe(refs[1][0]);

    const click = await request(ctx.service.app).get(`/click/${refs[0][0]}`).expect(302);
    expect(click.headers.location).toBe('https://example.com/gate%204/?ref=A998');
    await request(ctx.service.app).get(`/click/${refs[0][0]}`).expect(302);
    expect(await counts(sent.body.id)).toMatchObject({ clicked: 1 });
    await request(ctx.service.app).get(`/click/${refs[1][0]}`).expect(302);
    expect(await counts(sent.body.id)).toMatchObject({ clicked: 2 });
    const clickedAt = (await request(ctx.service.app).get(`/api/v1/notifications/${sent.body.id}/deliveries`).set('Authorization', bearer)).body.items.map((d: { clickedAt: string | null }) => d.clickedAt);
    expect(clickedAt.every((at: string | null) => typeof at === 'string')).toBe(true);
  });

  test('when a click link is forged or altered, then it is refused with 400, nothing is counted and nobody is redirected', async () => {
    const token = deviceToken();
    await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId: 'forger', now: Date.now() });
    const sent = await request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['forger'] } });
    const ref = (ctx.apns.requests.find((r) => r.token === token)!.payload as { aps: { 'url-args': string[] } }).aps['url-args'][0];
    const [data, mac] = ref.split('.');
    const redirected = Buffer.from(JSON.stringify([sent.body.id, 1, ['//evil.com', 'x']])).toString('base64url');
    // The MAC's last character replaced by a different one (a fixed 'A' left it unchanged one time in 64).
    const altered = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [`${redirected}.${mac}`, `${data}.${altered}`, data, 'x', `${data}.${mac}.extra`]) {
      const res = await request(ctx.service.app).get(`/click/${encodeURIComponent(bad)}`).expect(400);
      expect(res.headers.location).toBeUndefined();
      expect(res.body.error.code).toBe('invalid_click_ref');
    }
    await request(ctx.service.app).post(`/click/${redirected}.${mac}`).expect(400);
    expect(await counts(sent.body.id)).toMatchObject({ clicked: 0 });
  });

  test('when a Web Push notification is clicked, then its navigate link counts the click once and redirects to the page', async () => {
    const subscription = ctx.push.subscribe();
    await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId: 'web-clicker' }).expect(201);
    const sent = await request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['web-clicker'] } });
    const payload = JSON.parse(ctx.push.received.find((r) => r.subscriptionId === subscription.id)!.payload as string) as { notification: { navigate: string } };
    expect(payload.notification.navigate).toMatch(/^https:\/\/push\.example\.com\/click\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    const path = new URL(payload.notification.navigate).pathname;
    const res = await request(ctx.service.app).get(path).expect(302);
    expect(res.headers.location).toBe('https://example.com/a/?ref=b');
    await request(ctx.service.app).get(path).expect(302);
    expect(await counts(sent.body.id)).toMatchObject({ sent: 1, clicked: 1 });
  });

  test('when a service worker of an earlier version reports a click with POST, then it is counted', async () => {
    const subscription = ctx.push.subscribe();
    await request(ctx.service.app).post('/api/v1/subscriptions').set('Origin', SITE_ORIGIN).send({ subscription, userId: 'old-worker' }).expect(201);
    const sent = await request(ctx.service.app).post('/api/v1/notifications?wait=true').set('Authorization', bearer).send({ title: 't', body: 'b', urlArgs: ['a', 'b'], to: { users: ['old-worker'] } });
    const payload = JSON.parse(ctx.push.received.find((r) => r.subscriptionId === subscription.id)!.payload as string) as { notification: { navigate: string } };
    const res = await request(ctx.service.app).post(new URL(payload.notification.navigate).pathname).expect(204);
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(await counts(sent.body.id)).toMatchObject({ sent: 1, clicked: 1 });
  });
});
