import fs from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import { createLogger } from '../../src/logger';
import { createWebPushClient, type WebPushClient, type WebPushClientOptions } from '../../src/webpush/client';
import { createEndpointPolicy, type PushTarget } from '../../src/webpush/endpoint';
import { startPushStandIn, type PushStandIn, type PushStandInOptions, type StandInSubscription } from '../../src/webpush-stand-in/server';

const FIXTURE = path.resolve(__dirname, '../fixtures/apns-stand-in');
const tls = { cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) };
const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' };
const policy = createEndpointPolicy(['127.0.0.1:*']);
const message = (payload: string) => ({ payload, ttl: 60, urgency: 'normal' as const });

const targetOf = (subscription: StandInSubscription): PushTarget => {
  const checked = policy.check(subscription.endpoint);
  if (!checked.ok) throw new Error(checked.reason);
  return checked.target;
};

describe('Web Push client: encryption threads, HTTP/2 and HTTP/1.1, back-pressure', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((thing) => thing.close()));
  });
  const standIn = async (options: Partial<PushStandInOptions> = {}): Promise<PushStandIn> => {
    const push = await startPushStandIn({ tls, host: '127.0.0.1', ...options });
    open.push(push);
    return push;
  };
  const client = (options: Partial<WebPushClientOptions> = {}): WebPushClient => {
    const made = createWebPushClient(vapid, { concurrency: 50, timeoutMs: 5000, threads: 2, connectionsPerOrigin: 2, streamsPerConnection: 10, logger: createLogger('silent'), lookup: undefined, ...options });
    open.push(made);
    return made;
  };

  test('when the push service offers HTTP/2, then every push goes over it, on at most the configured connections, encrypted on threads and decrypted intact', async () => {
    const push = await standIn();
    const subscriptions = Array.from({ length: 40 }, () => push.subscribe());
    const sender = client({ connectionsPerOrigin: 2, streamsPerConnection: 10 });
    const results = await Promise.all(subscriptions.map((s, i) => sender.send(targetOf(s), s.keys, message(`{"n":${i},"text":"Grüße ☕"}`))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(sender.protocolOf(targetOf(subscriptions[0]))).toBe('h2');
    expect(new Set(push.received.map((r) => r.httpVersion))).toEqual(new Set(['2.0']));
    expect(push.connections).toBeLessThanOrEqual(2);
    expect(sender.threads).toBe(2);
    const bySubscription = new Map(push.received.map((r) => [r.subscriptionId, r.payload]));
    subscriptions.forEach((s, i) => expect(bySubscription.get(s.id)).toBe(`{"n":${i},"text":"Grüße ☕"}`));
  });

  test('when the push service speaks HTTP/1.1 only, then the pushes go over keep-alive HTTP/1.1 and arrive intact', async () => {
    const push = await standIn({ protocols: ['http/1.1'] });
    const subscriptions = Array.from({ length: 20 }, () => push.subscribe());
    const sender = client({ threads: 0 });
    const results = await Promise.all(subscriptions.map((s, i) => sender.send(targetOf(s), s.keys, message(`{"n":${i}}`))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(sender.protocolOf(targetOf(subscriptions[0]))).toBe('http/1.1');
    expect(push.received.map((r) => r.httpVersion).every((v) => v === '1.1')).toBe(true);
    expect(new Set(push.received.map((r) => r.payload))).toEqual(new Set(subscriptions.map((_, i) => `{"n":${i}}`)));
  });

  test('when the push service sends GOAWAY every 25 pushes, then all 300 pushes are still answered 201 (refused streams go again on a new connection)', async () => {
    const push = await standIn();
    push.goAwayAfter(25, true);
    const subscriptions = Array.from({ length: 300 }, () => push.subscribe());
    const sender = client({ connectionsPerOrigin: 2, streamsPerConnection: 20 });
    const results = await Promise.all(subscriptions.map((s) => sender.send(targetOf(s), s.keys, message('{}'))));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(push.goAways).toBeGreaterThanOrEqual(10);
    expect(new Set(push.received.filter((r) => r.status === 201).map((r) => r.subscriptionId)).size).toBe(300);
  });

  test('when a push service answers 429 with Retry-After, then no request goes to it until the pause is over: sends return at once, marked not sent', async () => {
    const push = await standIn();
    const [first, second] = [push.subscribe(), push.subscribe()];
    push.script(first.id, [{ status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' }]);
    const sender = client();
    const throttled = await sender.send(targetOf(first), first.keys, message('{}'));
    expect(throttled).toEqual({ ok: false, status: 429, reason: '429 slow down', retryAfterMs: 1000 });
    const during = await sender.send(targetOf(second), second.keys, message('{}'));
    expect(during).toMatchObject({ ok: false, status: null, notSent: true, reason: expect.stringMatching(/^Paused: /) });
    expect((during as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    expect((during as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(1000);
    expect(push.received).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, (during as { retryAfterMs: number }).retryAfterMs + 20));
    expect(await sender.send(targetOf(second), second.keys, message('{}'))).toEqual({ ok: true });
  });

  test('when WNS answers 406 (throttled, no Retry-After), then the answer asks for a retry after a pause of 1 s', async () => {
    const push = await standIn();
    const subscription = push.subscribe();
    push.script(subscription.id, [{ status: 406, body: 'throttled' }]);
    const result = await client().send(targetOf(subscription), subscription.keys, message('{}'));
    expect(result).toEqual({ ok: false, status: 406, reason: '406 throttled', retryAfterMs: 1000 });
  });

  test('when a subscription\'s keys cannot be used, then the send fails for good without a request', async () => {
    const push = await standIn();
    const subscription = push.subscribe();
    const result = await client().send(targetOf(subscription), { p256dh: subscription.keys.p256dh, auth: 'c2hvcnQ' }, message('{}'));
    expect(result).toEqual({ ok: false, status: null, reason: 'EncryptionFailed: auth is 5 bytes, not 16', final: true });
    expect(push.received).toEqual([]);
  });
});
