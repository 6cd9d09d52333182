/// <reference lib="dom" />
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { httpsOrigin, launchChromium, serveSite } from '../helpers/browser';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { API_KEY, buildService, type TestService } from '../helpers/service';
import { pushStandIn, webPushEnv } from '../helpers/webpush';
import { waitFor } from '../helpers/wait';
import type { PushStandIn, StandInSubscription } from '../../src/webpush-stand-in/server';

/**
 * The SDK and service worker in real headless Chromium, on a page of a site served by the test.
 * The offline machine cannot reach a browser vendor's push service, so only pushManager.subscribe()
 * is replaced: it returns a subscription of the push service stand-in, which then receives the
 * real encrypted push; the test hands the decrypted message to the service worker through the
 * DevTools protocol, as the browser's push service would.
 */
describe('browser SDK and service worker in Chromium', () => {
  let browser: Browser;
  let push: PushStandIn;
  let database: TestDatabase;
  let service: TestService;
  let api: Awaited<ReturnType<typeof httpsOrigin>>;
  let site: Awaited<ReturnType<typeof serveSite>>;
  let standInSubscription: StandInSubscription;

  beforeAll(async () => {
    browser = await launchChromium();
    push = await pushStandIn();
    standInSubscription = push.subscribe();
    api = await httpsOrigin();
    site = await serveSite(() => ({
      '/': {
        type: 'text/html',
        body: `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>Example site</title><script src="${api.origin}/sdk.js"></script></head><body><h1>News</h1></body></html>`,
      },
      '/push-sw.js': { type: 'text/javascript', body: `importScripts(${JSON.stringify(`${api.origin}/sw.js`)});` },
    }));
    database = createTestDatabase('sqlite');
    service = await buildService(database, { ...webPushEnv, WEB_SERVICE_URL: api.origin, ALLOWED_DOMAINS: site.origin, CLICK_TRACKING: 'true' });
    api.serve(service.app);
  });
  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await database?.drop();
    await Promise.all([push?.close(), api?.close(), site?.close()]);
  });

  async function openSite(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    await page.goto(site.origin + '/');
    return page;
  }
  const init = (page: Page, options: object) => page.evaluate((o) => (window as unknown as { SafariPush: { init(o: object): Promise<string> } }).SafariPush.init(o), options);
  /** The one replaced call: the push service the browser would ask is not reachable offline, so subscribe() returns the stand-in's subscription. */
  const subscribeToStandIn = (context: BrowserContext) =>
    context.addInitScript((subscription) => {
      PushManager.prototype.subscribe = async function subscribe() {
        return { endpoint: subscription.endpoint, toJSON: () => ({ endpoint: subscription.endpoint, expirationTime: null, keys: subscription.keys }) } as unknown as PushSubscription;
      };
    }, { endpoint: standInSubscription.endpoint, keys: standInSubscription.keys });
  const prompt = { title: 'Stay in the loop', text: 'Departure changes, as they happen.', allow: 'Yes please', deny: 'Not now' };

  /** init() with the soft prompt, answered "allow" by the visitor; resolves with init's result. */
  async function allowOnPrompt(context: BrowserContext, page: Page, userId: string): Promise<string> {
    const result = init(page, { prompt, userId, serviceWorker: '/push-sw.js' });
    await page.locator('#safari-push-prompt').waitFor();
    // The browser's own prompt cannot be answered headless: the permission is granted as a visitor would.
    await context.grantPermissions(['notifications'], { origin: site.origin });
    await page.locator('#safari-push-prompt [data-action=allow]').click();
    return result;
  }
  /** Hands a decrypted push to the site's service worker through the DevTools protocol, as the browser's push service would. */
  async function deliverToWorker(context: BrowserContext, page: Page, data: string): Promise<void> {
    const cdp = await context.newCDPSession(page);
    const registrationId = new Promise<string>((resolve) =>
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const found = registrations.find((r: { scopeURL: string; isDeleted: boolean }) => r.scopeURL === `${site.origin}/` && !r.isDeleted);
        if (found) resolve(found.registrationId);
      }),
    );
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: site.origin, registrationId: await registrationId, data });
  }
  /**
   * The notifications the worker shows, as the page's registration lists them, once there are any.
   * Polled from here: page.waitForFunction takes an async predicate's promise as a truthy answer at
   * once, so it would read the list before the worker had shown anything.
   */
  async function shownNotifications(page: Page): Promise<unknown[]> {
    let shown: unknown[] = [];
    await waitFor(async () => {
      shown = await page.evaluate(async () => {
        const list = await (await navigator.serviceWorker.ready).getNotifications();
        return list.map((n) => ({ title: n.title, body: n.body, icon: n.icon, image: (n as unknown as { image: string }).image, badge: n.badge, requireInteraction: n.requireInteraction, tag: n.tag, actions: (n as unknown as { actions: unknown[] }).actions, data: n.data }));
      });
      return shown.length > 0;
    }, 'a notification shown by the service worker');
    return shown;
  }
  /**
   * A click on the shown notification (or on one of its buttons), dispatched to the worker as the
   * browser dispatches it. An event a script dispatches may not open windows, so clients.openWindow
   * is replaced by one that records the URL the worker's handler asked for; the test then follows it.
   * The notification's close() is recorded too and leaves it shown, so one notification can take
   * several clicks: closing and showing again with the same tag races inside Chromium (a late close
   * takes the new notification with it).
   */
  async function clickInWorker(context: BrowserContext, action = ''): Promise<{ opened: string[]; closed: number }> {
    const [worker] = context.serviceWorkers();
    return worker.evaluate(async (clickedAction) => {
      const scope = self as unknown as { registration: ServiceWorkerRegistration; clients: { openWindow(url: string): Promise<unknown> }; dispatchEvent(e: Event): boolean };
      const opened: string[] = [];
      let closed = 0;
      scope.clients.openWindow = async (url: string) => {
        opened.push(url);
        return null;
      };
      const [notification] = await scope.registration.getNotifications();
      if (!notification) throw new Error('no notification is shown to click');
      notification.close = () => {
        closed += 1;
      };
      const Click = (self as unknown as { NotificationEvent: new (type: string, init: { notification: Notification; action: string }) => Event }).NotificationEvent;
      try {
        scope.dispatchEvent(new Click('notificationclick', { notification, action: clickedAction }));
      } catch {
        // waitUntil() refuses untrusted events; the handler has already run.
      }
      return { opened, closed };
    }, action);
  }

  test('when the visitor says "Not now", then the soft prompt (with the configured texts) is not shown again before the interval, and is after it', async () => {
    const context = await browser.newContext();
    try {
      const page = await openSite(context);
      const result = init(page, { prompt, askAgainAfterDays: 3 });
      const dialog = page.locator('#safari-push-prompt');
      await dialog.waitFor();
      expect(await dialog.locator('strong').textContent()).toBe(prompt.title);
      expect(await dialog.locator('p').textContent()).toBe(prompt.text);
      expect(await dialog.locator('[data-action=allow]').textContent()).toBe(prompt.allow);
      await dialog.locator('[data-action=deny]').click();
      expect(await result).toBe('dismissed');
      expect(await dialog.count()).toBe(0);

      await page.reload();
      expect(await init(page, { prompt, askAgainAfterDays: 3 })).toBe('snoozed');
      expect(await page.locator('#safari-push-prompt').count()).toBe(0);

      // Four days later (the stored answer moved back): the prompt comes again.
      await page.evaluate(() => localStorage.setItem('safari-push:dismissed-at', String(Date.now() - 4 * 24 * 3600 * 1000)));
      await page.reload();
      const again = init(page, { prompt, askAgainAfterDays: 3 });
      await page.locator('#safari-push-prompt').waitFor();
      await page.locator('#safari-push-prompt [data-action=deny]').click();
      expect(await again).toBe('dismissed');
    } finally {
      await context.close();
    }
  });

  test('when the visitor allows, then the service worker is registered, the subscription is stored for the user, a push is shown, and its click goes through the click link to the page', async () => {
    const context = await browser.newContext();
    try {
      await subscribeToStandIn(context);
      const page = await openSite(context);
      expect(await allowOnPrompt(context, page, 'web-visitor')).toBe('subscribed');

      const stored = (await service.context.devices.list({ channel: 'webpush', limit: 10 })).items;
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ userId: 'web-visitor', subscription: { endpoint: standInSubscription.endpoint, keys: standInSubscription.keys } });
      expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.active?.scriptURL)).toBe(`${site.origin}/push-sw.js`);

      // A later visit does not prompt again and refreshes the stored subscription.
      await page.reload();
      expect(await init(page, { prompt, userId: 'web-visitor', serviceWorker: '/push-sw.js' })).toBe('already-subscribed');

      const sent = await request(service.app)
        .post('/api/v1/notifications?wait=true')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({ title: 'Gate change', body: 'A998 now boards at gate 4', urlArgs: ['flights', 'A998'], to: { users: ['web-visitor'] } })
        .expect(200);
      expect(sent.body.counts).toMatchObject({ sent: 1 });
      const [delivered] = await push.waitFor(1);

      await deliverToWorker(context, page, delivered.payload as string);
      const notifications = (await shownNotifications(page)) as Array<{ title: string; body: string; icon: string; data: { safariPush: { navigate: string } } }>;
      expect(notifications).toHaveLength(1);
      expect(notifications[0]).toMatchObject({ title: 'Gate change', body: 'A998 now boards at gate 4', icon: `${api.origin}/icon.png` });
      // With click tracking the notification opens this service's click link, which leads to the page.
      expect(notifications[0].data.safariPush.navigate.startsWith(`${api.origin}/click/`)).toBe(true);
      // The worker reported it shown, through the message's signed shown link: counted once.
      expect((JSON.parse(delivered.payload as string) as { safari_push: { shown: string } }).safari_push.shown.startsWith(`${api.origin}/shown/`)).toBe(true);
      const counts = async () => (await request(service.app).get(`/api/v1/notifications/${sent.body.id}`).set('Authorization', `Bearer ${API_KEY}`)).body.counts as { shown: number };
      await waitFor(async () => (await counts()).shown === 1, 'the service worker\'s shown report');
      const deliveries = (await request(service.app).get(`/api/v1/notifications/${sent.body.id}/deliveries`).set('Authorization', `Bearer ${API_KEY}`)).body.items as Array<{ shownAt: string | null }>;
      expect(deliveries[0].shownAt).not.toBeNull();
      // Reported again (a second display, a replayed link): still once.
      await request(service.app).post(new URL((JSON.parse(delivered.payload as string) as { safari_push: { shown: string } }).safari_push.shown).pathname).expect(204);
      expect((await counts()).shown).toBe(1);

      const click = await clickInWorker(context);
      expect(click.closed).toBe(1);
      const [opened] = click.opened;
      expect(opened).toBe(notifications[0].data.safariPush.navigate);
      const landed = await request(service.app).get(new URL(opened).pathname).expect(302);
      expect(landed.headers.location).toBe('https://example.com/flights/?ref=A998');
      expect((await request(service.app).get(`/api/v1/notifications/${sent.body.id}`).set('Authorization', `Bearer ${API_KEY}`)).body.counts.clicked).toBe(1);
    } finally {
      await context.close();
    }
  });

  test('when a visitor in Tokyo subscribes, then the device keeps the browser\'s time zone, language, browser and OS, a visit is reported, and track() records an event for the user', async () => {
    const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'ja-JP' });
    try {
      await subscribeToStandIn(context);
      const page = await openSite(context);
      expect(['subscribed', 'already-subscribed']).toContain(await allowOnPrompt(context, page, 'tokyo-visitor'));
      const stored = async () => service.context.db('devices').where({ user_id: 'tokyo-visitor' }).first();
      expect(await stored()).toMatchObject({ timezone: 'Asia/Tokyo', language: 'ja-JP', browser: 'chrome', os: 'linux' });
      // The visit goes out after init() resolves, without holding it up. (The stand-in's one
      // subscription is every test's device, so the device may have been seen before: the
      // profile, new here, tells this visit.)
      await waitFor(async () => typeof (await service.context.audience.get('tokyo-visitor'))?.lastSeenAt === 'number', 'the visit');
      expect(Number((await stored()).last_seen_at)).toBe((await service.context.audience.get('tokyo-visitor'))?.lastSeenAt);
      const tracked = await page.evaluate(() => (window as unknown as { SafariPush: { track(name: string, properties: object): Promise<boolean> } }).SafariPush.track('added_to_cart', { price: 59 }));
      expect(tracked).toBe(true);
      const [event] = (await service.context.audience.events('tokyo-visitor', { limit: 5 })).items;
      expect(event).toMatchObject({ name: 'added_to_cart', properties: { price: 59 } });
      // A second init the same day reports no second visit.
      await page.reload();
      await init(page, { prompt, userId: 'tokyo-visitor', serviceWorker: '/push-sw.js' });
      const seen = Number((await stored()).last_seen_at);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(Number((await stored()).last_seen_at)).toBe(seen);
    } finally {
      await context.close();
    }
  });

  test('when a rich notification arrives, then the worker shows its image, badge, buttons and requireInteraction, and each button opens its own page', async () => {
    const context = await browser.newContext();
    try {
      await subscribeToStandIn(context);
      const page = await openSite(context);
      expect(['subscribed', 'already-subscribed']).toContain(await allowOnPrompt(context, page, 'rich-visitor'));
      const sent = await request(service.app)
        .post('/api/v1/notifications?wait=true')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({
          title: 'Your flight',
          body: 'Boarding in 30 minutes',
          urlArgs: ['flights', 'A998'],
          to: { users: ['rich-visitor'] },
          image: 'https://example.com/gate.jpg',
          badge: 'https://example.com/badge.png',
          requireInteraction: true,
          collapseId: 'a998',
          actions: [
            { title: 'Boarding pass', url: 'https://example.com/pass/A998' },
            { title: 'Change seat', url: 'https://example.com/seat/A998' },
          ],
        })
        .expect(200);
      expect(sent.body.counts).toMatchObject({ sent: 1 });
      const delivered = push.received.filter((r) => r.subscriptionId === standInSubscription.id && r.status === 201).at(-1);
      await deliverToWorker(context, page, delivered?.payload as string);
      const [shown] = (await shownNotifications(page)) as Array<{ image: string; badge: string; requireInteraction: boolean; tag: string; actions: Array<{ action: string; title: string }> }>;
      expect(shown).toMatchObject({ image: 'https://example.com/gate.jpg', badge: 'https://example.com/badge.png', requireInteraction: true, tag: 'a998' });
      expect(shown.actions.map((a) => [a.action, a.title])).toEqual([
        ['action-1', 'Boarding pass'],
        ['action-2', 'Change seat'],
      ]);

      // The second button: its own click link, to its own page, counted for that button.
      const button = await clickInWorker(context, 'action-2');
      expect(button.closed).toBe(1);
      const [opened] = button.opened;
      expect((await request(service.app).get(new URL(opened).pathname).expect(302)).headers.location).toBe('https://example.com/seat/A998');
      const counts = (await request(service.app).get(`/api/v1/notifications/${sent.body.id}`).set('Authorization', `Bearer ${API_KEY}`)).body.counts;
      expect(counts).toMatchObject({ clicked: 1, clickedActions: [0, 1] });
      // The notification itself opens the notification's page.
      const [body] = (await clickInWorker(context, '')).opened;
      expect((await request(service.app).get(new URL(body).pathname).expect(302)).headers.location).toBe('https://example.com/flights/?ref=A998');
    } finally {
      await context.close();
    }
  });

  test('when the browser\'s push service never answers, then init rejects with code "timeout" within the timeout, and the prompt is gone', async () => {
    const context = await browser.newContext();
    try {
      // Offline or a blocked push service: subscribe() never settles.
      await context.addInitScript(() => {
        PushManager.prototype.subscribe = () => new Promise<PushSubscription>(() => undefined);
      });
      const page = await openSite(context);
      const result = page.evaluate((o) =>
        (window as unknown as { SafariPush: { init(o: object): Promise<string> } }).SafariPush.init(o).then(
          (outcome) => ({ outcome }),
          (error: { name: string; code: string; message: string }) => ({ name: error.name, code: error.code, message: error.message }),
        ), { prompt, serviceWorker: '/push-sw.js', timeout: 1500 });
      await page.locator('#safari-push-prompt').waitFor();
      await context.grantPermissions(['notifications'], { origin: site.origin });
      const clickedAt = Date.now();
      await page.locator('#safari-push-prompt [data-action=allow]').click();
      expect(await result).toEqual({ name: 'SafariPushError', code: 'timeout', message: expect.stringMatching(/did not answer within 1500 ms/) });
      expect(Date.now() - clickedAt).toBeLessThan(10_000);
      expect(await page.locator('#safari-push-prompt').count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  test('when the page\'s origin is not in ALLOWED_DOMAINS, then init rejects with the service\'s reason and the console says what to fix', async () => {
    const stranger = await serveSite(() => ({
      '/': { type: 'text/html', body: `<!doctype html><html><head><script src="${api.origin}/sdk.js"></script></head><body><h1>Other site</h1></body></html>` },
      '/push-sw.js': { type: 'text/javascript', body: `importScripts(${JSON.stringify(`${api.origin}/sw.js`)});` },
    }));
    const context = await browser.newContext();
    try {
      await subscribeToStandIn(context);
      await context.grantPermissions(['notifications'], { origin: stranger.origin });
      const page = await context.newPage();
      const consoleErrors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      await page.goto(stranger.origin + '/');
      const outcome = await page.evaluate(() =>
        (window as unknown as { SafariPush: { init(o: object): Promise<string> } }).SafariPush.init({ serviceWorker: '/push-sw.js' }).then(
          (value) => ({ value }),
          (error: { code: string; status: number; serviceCode: string }) => ({ code: error.code, status: error.status, serviceCode: error.serviceCode }),
        ));
      expect(outcome).toEqual({ code: 'refused', status: 403, serviceCode: 'origin_not_allowed' });
      expect(consoleErrors.join('\n')).toContain(`this page's origin (${stranger.origin}) is not in the service's ALLOWED_DOMAINS`);
      expect(service.logs.lines.some((line) => line.level === 40 && line.origin === stranger.origin)).toBe(true);
    } finally {
      await context.close();
      await stranger.close();
    }
  });

  test('when the prompt shows on a 375 px phone, then it is a bottom sheet below the page heading, with 44 px targets, a close button, and the configured colours', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 700 }, isMobile: true, hasTouch: true });
    try {
      const page = await openSite(context);
      const colors = { primary: 'rgb(200, 30, 60)', primaryText: 'rgb(255, 255, 255)', background: 'rgb(250, 250, 240)' };
      const result = init(page, { prompt: { ...prompt, colors, close: 'Not interested' } });
      const dialog = page.locator('#safari-push-prompt');
      await dialog.waitFor();
      expect(await dialog.getAttribute('data-position')).toBe('bottom');
      const box = (await dialog.boundingBox())!;
      const heading = (await page.locator('h1').boundingBox())!;
      expect(box.y).toBeGreaterThan(heading.y + heading.height);
      expect(Math.round(box.y + box.height)).toBe(700);
      expect(box.width).toBe(375);
      for (const action of ['allow', 'deny', 'close']) {
        const target = (await dialog.locator(`[data-action=${action}]`).boundingBox())!;
        expect({ action, big: target.height >= 44 && target.width >= 44 }).toEqual({ action, big: true });
      }
      const allowStyle = await dialog.locator('[data-action=allow]').evaluate((el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color]);
      expect(allowStyle).toEqual([colors.primary, colors.primaryText]);
      expect(await dialog.locator('[data-action=deny]').evaluate((el) => getComputedStyle(el).backgroundColor)).not.toBe(colors.primary);
      expect(await dialog.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe(colors.background);
      await page.getByRole('button', { name: 'Not interested' }).click();
      expect(await result).toBe('dismissed');
      expect(await dialog.count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  test('when the prompt shows on a desktop, then Escape dismisses it and focus starts on the primary button', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await openSite(context);
      const result = init(page, { prompt });
      await page.locator('#safari-push-prompt').waitFor();
      expect(await page.locator('#safari-push-prompt').getAttribute('data-position')).toBe('top');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-action'))).toBe('allow');
      await page.keyboard.press('Escape');
      expect(await result).toBe('dismissed');
    } finally {
      await context.close();
    }
  });
});
