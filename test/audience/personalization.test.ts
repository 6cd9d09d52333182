import request from 'supertest';
import { personalizer, type Recipient } from '../../src/notifications/personalize';
import { deviceToken } from '../helpers/apns';
import { BACKENDS } from '../helpers/databases';
import { API_KEY, PUSH_ID } from '../helpers/service';
import { useBothStandIns } from '../helpers/webpush';

const bearer = `Bearer ${API_KEY}`;

describe.each(BACKENDS)('personalized notifications (%s)', (backend) => {
  // package-raw/website.json: "https://example.com/%@/?ref=%@"; with click tracking Safari gets
  // one url-arg, the signed click link, which redirects there.
  const ctx = useBothStandIns(backend, 1, { CLICK_TRACKING: 'true' });
  const api = () => request(ctx.service.app);
  const send = (body: object) => api().post('/api/v1/notifications?wait=true').set('Authorization', bearer).send(body);
  const register = (token: string, userId: string | null) => ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId, now: Date.now() });
  const payloadOf = (token: string) => ctx.apns.requests.find((r) => r.token === token)?.payload as { aps: { alert: { title: string; body: string }; 'url-args': string[] } };
  /** Where a Safari click link leads: the click endpoint's redirect. */
  const landing = async (ref: string) => (await api().get(`/click/${ref}`).expect(302)).headers.location;

  test('when a Safari send has templates in title, body and url-args, then each device gets its own user\'s text, and a device without a profile the defaults', async () => {
    ctx.apns.reset();
    const ada = deviceToken();
    const anonymous = deviceToken();
    await register(ada, 'ada');
    await register(anonymous, null);
    await ctx.service.context.audience.put('ada', { attributes: { firstName: 'Ada', plan: 'pro' } }, Date.now());
    const res = await send({
      title: 'Hi {{ user.firstName | default: "there" }}',
      body: '{{ user.plan | default: "free" | upcase }} news for you',
      urlArgs: ['{{ user.id | default: "guest" }}', 'A998'],
      to: { tokens: [ada, anonymous] },
    }).expect(200);
    expect(res.body.counts).toMatchObject({ sent: 2, failed: 0 });
    expect(payloadOf(ada).aps.alert).toEqual({ title: 'Hi Ada', body: 'PRO news for you' });
    expect(payloadOf(anonymous).aps.alert).toEqual({ title: 'Hi there', body: 'FREE news for you' });
    // With click tracking the url-args travel in the signed link: rendered per device.
    expect(await landing(payloadOf(ada).aps['url-args'][0])).toBe('https://example.com/ada/?ref=A998');
    expect(await landing(payloadOf(anonymous).aps['url-args'][0])).toBe('https://example.com/guest/?ref=A998');
  });

  test('when one user\'s rendered payload is over APNs\' limit, then that device alone fails with the reason and the rest are sent', async () => {
    ctx.apns.reset();
    const long = deviceToken();
    const short = deviceToken();
    await register(long, 'long-bio');
    await register(short, 'short-bio');
    await ctx.service.context.audience.put('long-bio', { attributes: { bio: 'x'.repeat(1000), more: 'y'.repeat(1000), evenMore: 'z'.repeat(1000), most: 'w'.repeat(1000) } }, Date.now());
    await ctx.service.context.audience.put('short-bio', { attributes: { bio: 'hello' } }, Date.now());
    const res = await send({ title: 'About you', body: '{{ user.bio }}{{ user.more }}{{ user.evenMore }}{{ user.most }}', urlArgs: ['a', 'b'], to: { tokens: [long, short] } }).expect(200);
    expect(res.body.counts).toMatchObject({ sent: 1, failed: 1 });
    const deliveries = (await api().get(`/api/v1/notifications/${res.body.id}/deliveries`).set('Authorization', bearer).expect(200)).body.items as Array<{ token: string; outcome: string; reason: string | null; attempts: number }>;
    expect(deliveries.find((d) => d.token === long)).toMatchObject({ outcome: 'failed', reason: expect.stringMatching(/^PayloadTooLarge: the personalized payload is \d+ bytes/), attempts: 0 });
    expect(deliveries.find((d) => d.token === short)).toMatchObject({ outcome: 'sent' });
    expect(ctx.apns.requests.map((r) => r.token)).toEqual([short]);
  });

  test('when a Web Push send is personalized, then the decrypted payload carries the user\'s text and its click link leads to the page rendered for them', async () => {
    const subscription = ctx.push.subscribe();
    await api().post('/api/v1/subscriptions').set('Origin', 'https://example.com').send({ subscription, userId: 'grace' }).expect(201);
    await ctx.service.context.audience.put('grace', { attributes: { firstName: 'Grace', city: 'Arlington' } }, Date.now());
    const res = await send({
      title: 'Hello {{ user.firstName }}',
      body: 'Weather in {{ user.city }}',
      urlArgs: ['x', 'y'],
      url: 'https://example.com/weather/{{ user.city | downcase }}',
      to: { users: ['grace'] },
    }).expect(200);
    expect(res.body.counts).toMatchObject({ sent: 1 });
    const received = ctx.push.received.find((r) => r.subscriptionId === subscription.id && r.status === 201);
    const message = JSON.parse(received?.payload as string) as { notification: { title: string; body: string; navigate: string } };
    expect(message.notification).toMatchObject({ title: 'Hello Grace', body: 'Weather in Arlington' });
    expect(message.notification.navigate).toMatch(/\/click\//);
    const ref = message.notification.navigate.split('/click/')[1];
    expect(await landing(ref)).toBe('https://example.com/weather/arlington');
  });

  test.each([
    ['an unclosed output', { title: 'Hi {{ user.firstName', body: 'x' }, /title is not a valid template: .*line:1, col:4/],
    ['an unknown filter', { title: 'x', body: '{{ user.firstName | shout }}' }, /body is not a valid template: .*undefined filter: shout/],
    ['a file include', { title: 'x', body: '{% include "/etc/passwd" %}' }, /body is not a valid template: .*include %\} tag is not available/],
    ['a render tag', { title: 'x', body: 'y', urlArgs: ['{% render "secrets" %}', 'b'] }, /urlArgs\[0\] is not a valid template/],
    ['a runaway loop', { title: 'x', body: '{% for i in (1..100000000) %}xxxxxxxxxx{% endfor %}' }, /templates cannot be rendered/],
  ])('when a template has %s, then the send is a 400 invalid_template with the field (and position) and nothing is stored', async (_what, fields, message) => {
    const token = deviceToken();
    await register(token, null);
    const before = (await ctx.service.context.notifications.list({ limit: 200 })).items.length;
    const res = await api().post('/api/v1/notifications').set('Authorization', bearer).send({ urlArgs: ['a', 'b'], to: { tokens: [token] }, ...fields });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_template');
    expect(res.body.error.message).toMatch(message);
    expect((await ctx.service.context.notifications.list({ limit: 200 })).items.length).toBe(before);
  });

  test.each([
    ['a host from a template', 'https://{{ user.shop }}.example.com/sale'],
    ['a path glued to the host', 'https://example.com{{ user.path }}'],
    ['a template before the host', '{{ user.site }}/sale'],
  ])('when url has %s, then 400: no attribute can send a click to another site', async (_what, url) => {
    const token = deviceToken();
    await register(token, null);
    const res = await api().post('/api/v1/notifications').set('Authorization', bearer).send({ title: 'x', body: 'y', urlArgs: ['a', 'b'], url, to: { tokens: [token] } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/url/);
  });

  test('when url is a template after the origin, then each device gets its page', async () => {
    const token = deviceToken();
    await register(token, null);
    await api().post('/api/v1/notifications').set('Authorization', bearer).send({ title: 'x', body: 'y', urlArgs: ['a', 'b'], url: 'https://example.com/{{ user.id | default: "guest" }}', to: { tokens: [token] } }).expect(202);
  });

  test('when a preview is asked for a user, then it shows what each channel would get for them, rendered, with its size', async () => {
    await register(deviceToken(), 'preview-user');
    await ctx.service.context.audience.put('preview-user', { attributes: { firstName: 'Lin' } }, Date.now());
    const res = await api()
      .post('/api/v1/notifications/preview')
      .set('Authorization', bearer)
      .send({ title: 'Hi {{ user.firstName }}', body: 'You are {{ user.id }}', urlArgs: ['{{ user.id }}', 'z'], userId: 'preview-user' })
      .expect(200);
    expect(res.body).toMatchObject({
      userId: 'preview-user',
      profile: true,
      channels: {
        safari: { payload: { aps: { alert: { title: 'Hi Lin', body: 'You are preview-user' }, 'url-args': ['preview-user', 'z'] } }, bytes: expect.any(Number), devices: 1 },
        webpush: { payload: { web_push: 8030, notification: { title: 'Hi Lin', body: 'You are preview-user', navigate: 'https://example.com/preview-user/?ref=z' } }, devices: 0 },
      },
    });
    const bad = await api().post('/api/v1/notifications/preview').set('Authorization', bearer).send({ title: '{{ x', body: 'y', urlArgs: ['a', 'b'], userId: 'preview-user' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_template');
  });
});

describe('rendering one device', () => {
  const recipient = (attributes: Record<string, string>): Recipient => ({
    userId: 'u-1',
    attributes,
    timezone: null,
    language: 'de',
    device: { channel: 'safari', browser: 'Safari', os: 'macOS', language: 'en-US', timezone: 'Europe/Berlin' },
  });

  test('when the title assigns a variable, then the body sees it; the next device starts without it', () => {
    const render = personalizer({ title: '{% assign first = user.firstName | default: "there" %}Hi {{ first }}', body: '{{ first }}, {{ user.id }} in {{ user.timezone }} ({{ user.language }})', urlArgs: [] });
    expect(render.render(recipient({ firstName: 'Ada' }))).toEqual({ ok: true, fields: { title: 'Hi Ada', body: 'Ada, u-1 in Europe/Berlin (de)', urlArgs: [] } });
    const next = personalizer({ title: 'x', body: '[{{ first }}]', urlArgs: [] });
    expect(next.render(recipient({}))).toEqual({ ok: true, fields: { title: 'x', body: '[]', urlArgs: [] } });
  });

  test('when a device\'s fields together run past the time budget, then that device fails with a template error', () => {
    // Each field alone may be quick; the budget (50 ms) is for all of them, from the render's start.
    const slow = '{% for i in (1..300) %}{% for j in (1..300) %}{% endfor %}{% endfor %}';
    const render = personalizer({ title: slow, body: slow, urlArgs: Array.from({ length: 60 }, () => slow) });
    const result = render.render(recipient({ firstName: 'Ada' }));
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/^TemplateError: template render limit exceeded/) });
  });
});
