/// <reference lib="dom" />
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { deviceToken, useApnsService } from '../helpers/apns';
import { launchChromium } from '../helpers/browser';
import { API_KEY, PUSH_ID } from '../helpers/service';

const HOSTILE = '<img src=x onerror="window.__pwned = 1"><b>bold</b><script>window.__pwned = 2</script>';

describe('admin console in Chromium', () => {
  const ctx = useApnsService('sqlite', { topics: [PUSH_ID], urlArgsCount: 2 });
  let browser: Browser;
  let server: Server;
  let base: string;
  const aliceToken = deviceToken();
  const failingToken = deviceToken('fa11');
  const deadToken = deviceToken('dead');
  let notificationId: string;

  beforeAll(async () => {
    browser = await launchChromium();
    server = ctx.service.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Safari posts its logs to the public endpoint: anyone can write anything there.
    await request(ctx.service.app).post('/v2/log').send({ logs: ['Push package signature verification failed', HOSTILE] }).expect(200);
    await ctx.service.context.devices.register({ token: aliceToken, websitePushId: PUSH_ID, userId: 'alice', now: Date.now() });
    await ctx.service.context.devices.register({ token: failingToken, websitePushId: PUSH_ID, userId: 'alice', now: Date.now() });
    await ctx.service.context.devices.register({ token: deadToken, websitePushId: PUSH_ID, userId: 'alice', now: Date.now() - 60_000 });
    ctx.apns.scriptPrefix('fa11', { status: 400, reason: 'BadExpirationDate' });
    ctx.apns.scriptPrefix('dead', { status: 410, reason: 'Unregistered' });
    const sent = await request(ctx.service.app)
      .post('/api/v1/notifications?wait=true')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ title: 'Gate change', body: 'A998 boards at gate 4', urlArgs: ['a', 'b'], to: { users: ['alice'] } })
      .expect(200);
    notificationId = sent.body.id;
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A fresh page for one test, closed whatever the test does. */
  async function withPage(use: (page: Page) => Promise<void>): Promise<void> {
    const page = await browser.newPage();
    try {
      await use(page);
    } finally {
      await page.close();
    }
  }

  async function logIn(page: Page) {
    await page.goto(`${base}/admin`);
    await page.fill('#api-key', API_KEY);
    await page.click('#login button[type=submit]');
    await page.locator('.log-row').first().waitFor();
  }

  test('when a wrong key is typed, then the console says so and shows no data', () =>
    withPage(async (page) => {
      await page.goto(`${base}/admin`);
      await page.fill('#api-key', 'not-the-key-0123456789');
      await page.click('#login button[type=submit]');
      await page.locator('#login-error').filter({ hasText: 'not valid' }).waitFor();
      expect(await page.locator('#logs').isHidden()).toBe(true);
      expect(await page.locator('.log-row').count()).toBe(0);
    }));

  test('when an admin logs in, then the logged messages show newest first, an HTML message as plain text, and the key stays out of the URL', () =>
    withPage(async (page) => {
      await logIn(page);
      const messages = await page.locator('.log-message').allTextContents();
      expect(messages).toContain('Push package signature verification failed');
      expect(messages).toContain(HOSTILE);
      expect(await page.locator('#log-rows img, #log-rows b, #log-rows script, #log-summary img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(page.url()).toBe(`${base}/admin`);
      expect(page.url()).not.toContain(API_KEY);
      expect(await page.evaluate(() => sessionStorage.getItem('safari-push-admin-key'))).toBe(API_KEY);

      await page.fill('#log-query', 'signature');
      await page.click('#log-search button');
      await page.waitForFunction(() => document.querySelectorAll('.log-row').length === 1);
      expect(await page.locator('.log-message').allTextContents()).toEqual(['Push package signature verification failed']);
      expect(await page.locator('#log-summary').textContent()).toContain('Push package signature verification failed');

      // A reload keeps the session (sessionStorage); logging out forgets the key.
      await page.reload();
      await page.locator('.log-row').first().waitFor();
      await page.click('#logout');
      expect(await page.evaluate(() => sessionStorage.getItem('safari-push-admin-key'))).toBeNull();
      expect(await page.locator('#login').isVisible()).toBe(true);
    }));

  test('when an admin looks up a user and a token, then the devices are found, with totals per channel', () =>
    withPage(async (page) => {
      await logIn(page);
      await page.click('[data-tab=devices]');
      await page.locator('#device-totals').filter({ hasText: 'Safari devices:' }).waitFor();
      expect(await page.locator('#device-totals').textContent()).toContain('Web Push subscriptions: 0');
      await page.fill('#device-query', 'alice');
      await page.click('#device-lookup button');
      await page.waitForFunction(() => document.querySelectorAll('.device-row').length >= 1);
      expect(await page.locator('#device-rows').textContent()).toContain(aliceToken);
      await page.selectOption('#device-by', 'token');
      await page.fill('#device-query', aliceToken);
      await page.click('#device-lookup button');
      await page.waitForFunction(() => document.querySelectorAll('.device-row').length === 1);
      expect(await page.locator('.device-row').first().textContent()).toContain('alice');
      await page.fill('#device-query', 'f'.repeat(64));
      await page.click('#device-lookup button');
      await page.locator('#device-message').filter({ hasText: 'No device found' }).waitFor();
    }));

  test('when an admin opens Devices, then the devices are listed newest first, can be filtered by channel, and one can be deleted', () =>
    withPage(async (page) => {
      const doomed = deviceToken('d0');
      await ctx.service.context.devices.register({ token: doomed, websitePushId: PUSH_ID, userId: 'doomed', now: Date.now() + 60_000 });
      await logIn(page);
      await page.click('[data-tab=devices]');
      await page.locator('.device-row').first().waitFor();
      expect(await page.locator('.device-row').first().textContent()).toContain(doomed);
      await page.selectOption('#device-channel', 'webpush');
      await page.click('#device-lookup button');
      await page.locator('#device-message').filter({ hasText: 'No device found' }).waitFor();
      await page.selectOption('#device-channel', '');
      await page.click('#device-lookup button');
      await page.locator('.device-row').first().waitFor();
      const totals = await page.locator('#device-totals').textContent();
      page.once('dialog', (dialog) => void dialog.accept());
      await page.locator('.device-row', { hasText: doomed }).getByRole('button', { name: `Delete device ${doomed}` }).click();
      await page.locator('#device-message').filter({ hasText: `Deleted ${doomed}` }).waitFor();
      expect(await page.locator('.device-row', { hasText: doomed }).count()).toBe(0);
      await page.waitForFunction((before) => document.getElementById('device-totals')?.textContent !== before, totals);
      expect(await ctx.service.context.devices.findByToken(doomed)).toBeUndefined();
    }));

  test('when the console is used on a 375 px wide screen, then no tab makes the page scroll sideways (wide tables scroll in their own box)', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
    const page = await context.newPage();
    try {
      await logIn(page);
      for (const tab of ['logs', 'devices', 'notifications', 'health']) {
        await page.click(`[data-tab=${tab}]`);
        await page.locator(`#${tab}`).waitFor();
        await page.waitForTimeout(100);
        expect({ tab, width: await page.evaluate(() => document.documentElement.scrollWidth) }).toEqual({ tab, width: 375 });
      }
      expect(await page.locator('#notifications .table-wrap').first().evaluate((el) => getComputedStyle(el).overflowX)).toBe('auto');
    } finally {
      await context.close();
    }
  });

  test('when an admin opens a notification, then its counts and its failed deliveries with reasons show, and health shows the certificate and APNs', () =>
    withPage(async (page) => {
      await logIn(page);
      await page.click('[data-tab=notifications]');
      const row = page.locator('.notification-row', { hasText: 'Gate change' });
      await row.waitFor();
      expect((await row.locator('td').allTextContents()).slice(2, 8)).toEqual(['completed', '3', '1', '1', '1', '0']);
      await row.locator('button').click();
      await page.locator('.failed-row').first().waitFor();
      expect(await page.locator('#detail-summary').textContent()).toContain('targeted 3, sent 1, failed 1, removed 1, clicked 0');
      const rows = await page.locator('.failed-row').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
      expect(rows).toEqual([
        ['failed', 'safari', failingToken, '400', 'BadExpirationDate', '1'],
        ['removed', 'safari', deadToken, '410', 'Unregistered', '1'],
      ]);
      expect(notificationId).toBeTruthy();

      await page.click('[data-tab=health]');
      await page.locator('#health-list dt').first().waitFor();
      const health = await page.locator('#health-list').textContent();
      expect(health).toContain('Website push certificate');
      expect(health).toMatch(/expires .+ \(\d+ days\)/);
      expect(health).toContain('DEVELOPMENT certificate');
      expect(health).toContain('reachable — ');
    }));
});
