/// <reference lib="dom" />
import fs from 'node:fs';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { manualClock } from '../../src/clock';
import { deviceToken } from '../helpers/apns';
import { launchChromium } from '../helpers/browser';
import { useCampaignService } from '../helpers/campaigns';
import type { AttributeValue } from '../../src/audience/values';
import { API_KEY, PUSH_ID } from '../helpers/service';
import { waitFor } from '../helpers/wait';

/**
 * Where the tests write a screenshot of each screen: docs/studio/, which docs/studio.md shows, with
 * UPDATE_SCREENSHOTS=1; otherwise a temporary folder, so that a test run leaves the tree as it was.
 */
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../docs/studio') : fs.mkdtempSync(path.join(os.tmpdir(), 'studio-shots-'));
/** Markup in every text a person or a page can store: it must show as text and never run. */
const HOSTILE = '<img src=x onerror="window.__pwned=1"><b>x</b>';
const HOSTILE_SHORT = '<img src=x onerror=window.__pwned=2>';
const START = Date.parse('2026-12-07T08:00:00Z');

describe('campaign studio in Chromium', () => {
  const clock = manualClock(START);
  const ctx = useCampaignService('sqlite', clock);
  let browser: Browser;
  let server: Server;
  let base: string;
  const tokens = new Map<string, string>();
  const users: Array<[string, Record<string, AttributeValue>, string | null]> = [
    ['u1', { firstName: 'Ada', plan: 'pro' }, 'Europe/Berlin'],
    ['u2', { firstName: 'Ben', plan: 'free' }, 'Europe/Berlin'],
    ['u3', { firstName: 'Cy', plan: 'pro' }, 'America/New_York'],
    ['u4', { firstName: 'Di', plan: 'free' }, 'America/New_York'],
    ['u5', { firstName: 'Eve', plan: 'pro' }, null],
    ['u6', { firstName: HOSTILE, plan: 'free', note: HOSTILE }, 'Europe/Berlin'],
  ];
  const api = (method: 'get' | 'post', route: string) => request(ctx.service.app)[method](`/api/v1${route}`).set('Authorization', `Bearer ${API_KEY}`);

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
    server = ctx.service.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const [userId, attributes, timezone] of users) {
      const token = deviceToken();
      tokens.set(userId, token);
      await ctx.service.context.devices.register({ token, websitePushId: PUSH_ID, userId, now: START - 86_400_000 });
      await ctx.service.context.audience.put(userId, { attributes, ...(timezone ? { timezone } : {}) }, START - 86_400_000);
    }
    const at = new Date(START - 3_600_000).toISOString();
    await api('post', '/events')
      .send({ events: [{ name: 'added_to_cart', userId: 'u1', time: at }, { name: 'added_to_cart', userId: 'u3', time: at }, { name: HOSTILE_SHORT, userId: 'u6', time: at, properties: { html: HOSTILE } }] })
      .expect(202);
    await api('post', '/segments').send({ name: `Pros ${HOSTILE}`, filter: { attribute: 'plan', op: 'eq', value: 'pro' } }).expect(201);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (process.env.UPDATE_SCREENSHOTS !== '1') fs.rmSync(SHOTS, { recursive: true, force: true });
  });

  /** Nothing stored ran as script, and no stored markup became an element. */
  async function expectNothingRan(page: Page) {
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('main img, main b, main script').count()).toBe(0);
  }
  /** Logs in with the keyboard only: Tab to the key, type it, Enter. */
  async function logIn(page: Page) {
    await page.goto(`${base}/studio/`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('type'))).toBe('password');
    // The focus is visible: an outline on the focused control.
    expect(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)).not.toBe('none');
    await page.keyboard.type(API_KEY);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
  }
  const estimate = (page: Page) => page.locator('.estimate').textContent();

  test('when a marketer composes, targets, schedules in local time, test-sends and launches, then the report shows what happened, with its chart, after events arrive', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    try {
      await logIn(page);
      await page.getByRole('link', { name: 'New campaign' }).first().click();

      // Compose: a template, previewed for one user as Safari and Chrome would show it.
      await page.getByLabel('Campaign name').fill(`Winter sale ${HOSTILE}`);
      await page.getByLabel('Title', { exact: true }).fill('Hi {{ user.firstName }}');
      await page.getByLabel('Body', { exact: true }).fill('Your {{ user.plan }} plan: 20% off');
      await page.getByLabel('URL arguments (Safari)').fill('sale');
      await page.getByLabel('Preview for user').fill('u1');
      // The server's own check, while typing: one url-arg for a format with two %@.
      await page.locator('.problems').filter({ hasText: 'urlArgs has 1 entries' }).waitFor();
      await page.getByLabel('URL arguments (Safari)').fill('sale, winter');
      await page.locator('.safari .mock-title').filter({ hasText: 'Hi Ada' }).waitFor();
      await page.locator('.chrome .mock-body').filter({ hasText: 'Your pro plan: 20% off' }).waitFor();
      await page.locator('.problems').waitFor({ state: 'detached' });
      // The variables offered come from the attributes the profiles have.
      expect(await page.getByRole('group', { name: 'Insert a variable' }).getByRole('button').allTextContents()).toEqual(expect.arrayContaining(['{{ user.firstName }}', '{{ user.plan }}']));
      await page.locator('#compose').screenshot({ path: path.join(SHOTS, 'compose.png') });
      // Someone whose first name is markup: previewed as text.
      await page.getByLabel('Preview for user').fill('u6');
      await page.locator('.safari .mock-title').filter({ hasText: `Hi ${HOSTILE}` }).waitFor();
      await expectNothingRan(page);
      await page.getByLabel('Preview for user').fill('u1');

      // Audience: the estimate moves as the filter does.
      await waitFor(async () => (await estimate(page))?.includes('6 users') ?? false, 'the estimate for everyone');
      await page.getByLabel('A filter').check();
      await page.getByLabel('Attribute', { exact: true }).fill('plan');
      await page.getByLabel('Value', { exact: true }).fill('pro');
      await waitFor(async () => (await estimate(page))?.includes('3 users') ?? false, 'the estimate for plan = pro');
      await page.getByRole('button', { name: 'Add condition' }).click();
      await page.getByRole('combobox', { name: /^Condition 2/ }).selectOption('event');
      await page.getByLabel('Event', { exact: true }).fill('added_to_cart');
      await waitFor(async () => (await estimate(page))?.includes('2 users') ?? false, 'the estimate for pros who added to the cart');
      await page.locator('#audience').screenshot({ path: path.join(SHOTS, 'audience.png') });
      // Back to the pros only: the campaign goes to three users in two zones and the fallback.
      await page.getByRole('button', { name: 'Remove condition 2' }).click();
      await waitFor(async () => (await estimate(page))?.includes('3 users') ?? false, 'the estimate again');

      // When: 09:00 in each user's zone, listed in words.
      await page.getByRole('combobox', { name: /^Schedule/ }).selectOption('at');
      await page.getByLabel('Date and time').fill('2026-12-08T09:00');
      await page.getByLabel('Time zone', { exact: true }).fill('Europe/Berlin');
      await page.getByLabel("In each user's local time").check();
      await page.locator('.occurrences li').filter({ hasText: 'Tuesday, 8 December 2026 at 09:00 (Europe/Berlin)' }).waitFor();
      await page.locator('#when').screenshot({ path: path.join(SHOTS, 'when.png') });

      // Measure: purchases within a day, with their amount.
      await page.getByLabel('Goal event').fill('purchased');
      await page.getByLabel('Revenue property').fill('amount');
      await page.locator('#measure').screenshot({ path: path.join(SHOTS, 'measure.png') });

      // Test, then launch.
      await page.getByRole('button', { name: 'Save draft' }).click();
      await page.locator('[role=status]').filter({ hasText: 'Saved as a draft campaign.' }).waitFor();
      await page.getByLabel('Test to users').fill('u1');
      await page.getByRole('button', { name: 'Send test' }).click();
      await page.locator('[role=status]').filter({ hasText: 'Test sent to 1 user.' }).waitFor();
      await waitFor(() => ctx.apns.requests.length === 1, 'the test send');
      expect(ctx.apns.requests[0]).toMatchObject({ token: tokens.get('u1'), payload: { aps: { alert: { title: 'Hi Ada' } } } });
      await page.getByRole('button', { name: 'Launch' }).click();
      // It asks once more.
      await page.getByRole('button', { name: 'Confirm launch' }).click();
      await page.locator('#report-title').waitFor();
      const id = new URL(page.url()).hash.split('/')[2];
      expect((await api('get', `/campaigns/${id}`).expect(200)).body).toMatchObject({ status: 'scheduled', schedule: { type: 'at', at: '2026-12-08T09:00', timezone: 'Europe/Berlin', localTime: true }, goal: { event: 'purchased', revenueProperty: 'amount' } });

      // The occurrence goes out zone by zone; purchases come in.
      ctx.apns.reset();
      await ctx.tick();
      for (const at of ['2026-12-08T08:00:00Z', '2026-12-08T14:00:00Z']) {
        clock.set(Date.parse(at));
        await ctx.tick();
        const sent = (await ctx.service.context.db('notifications').where({ campaign_id: id, test: false }).select('id')) as Array<{ id: string }>;
        for (const n of sent) await ctx.service.context.queue.settled(n.id);
      }
      expect(ctx.apns.requests.map((r) => r.token).sort()).toEqual(['u1', 'u3', 'u5'].map((u) => tokens.get(u)).sort());
      clock.set(Date.parse('2026-12-08T15:00:00Z'));
      await api('post', '/events').send({ events: [{ name: 'purchased', userId: 'u3', properties: { amount: 42 } }] }).expect(202);
      clock.advance(10_000);
      expect((await ctx.tick()).converted).toBe(1);

      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.locator('.headline').filter({ hasText: 'Converted' }).waitFor();
      await page.locator('.chart canvas').first().waitFor();
      const headline = await page.locator('.headline').textContent();
      expect(headline).toContain('Sent3');
      expect(headline).toContain('Converted1');
      expect(await page.locator('#report-title').textContent()).toBe(`Winter sale ${HOSTILE}`);
      await expectNothingRan(page);
      await page.screenshot({ path: path.join(SHOTS, 'report.png'), fullPage: true });

      // A campaign with a control group and two variants (made through the API, as a script would): its report compares them.
      const ab = (
        await api('post', '/campaigns')
          .send({
            name: 'Gift guide',
            message: { title: 'Gift ideas', body: 'For everyone on your list', urlArgs: ['gifts', 'guide'] },
            audience: { all: true },
            schedule: { type: 'now' },
            rules: { quietHours: 'off' },
            controlGroupPercent: 20,
            variants: [{ name: 'plain', weight: 1 }, { name: 'urgent', weight: 1, message: { title: 'Last days for gifts' } }],
            goal: { event: 'purchased', within: '1d', revenueProperty: 'amount' },
          })
          .expect(201)
      ).body.id as string;
      await api('post', `/campaigns/${ab}/launch`).send({}).expect(200);
      await ctx.tick();
      for (const n of (await ctx.service.context.db('notifications').where({ campaign_id: ab }).select('id')) as Array<{ id: string }>) await ctx.service.context.queue.settled(n.id);
      await api('post', '/events').send({ events: ['u1', 'u2', 'u4'].map((userId) => ({ name: 'purchased', userId, properties: { amount: 30 } })) }).expect(202);
      clock.advance(10_000);
      await ctx.tick();
      await page.goto(`${base}/studio/#/campaigns/${ab}`);
      await page.getByRole('heading', { name: 'Variants' }).waitFor();
      await page.getByRole('heading', { name: 'Against the control group' }).waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'report-ab.png'), fullPage: true });

      // The list shows it with its numbers; the user page shows what u3 got and did.
      await page.getByRole('link', { name: 'Campaigns' }).click();
      await page.locator('td').filter({ hasText: `Winter sale ${HOSTILE}` }).waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'campaigns.png') });
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByLabel('User id').fill('u6');
      await page.getByRole('button', { name: 'Look up' }).click();
      await page.locator('.attributes dd').filter({ hasText: HOSTILE }).first().waitFor();
      await page.locator('.timeline').filter({ hasText: HOSTILE_SHORT }).waitFor();
      await expectNothingRan(page);
      await page.getByLabel('User id').fill('u3');
      await page.getByRole('button', { name: 'Look up' }).click();
      await page.locator('.timeline').filter({ hasText: 'purchased' }).waitFor();
      await page.locator('table').filter({ hasText: 'Hi {{ user.firstName }}' }).waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'users.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  test('when the studio is used on a 375 px screen, then no page scrolls sideways and every control has a label', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
    try {
      await logIn(page);
      for (const hash of ['#/campaigns', '#/campaigns/new', '#/users/u1']) {
        await page.goto(`${base}/studio/${hash}`);
        await page.locator('main h2').first().waitFor();
        await page.waitForTimeout(400);
        expect([hash, await page.evaluate(() => document.documentElement.scrollWidth)]).toEqual([hash, 375]);
        const unlabelled = await page.evaluate(() =>
          Array.from(document.querySelectorAll('input, select, textarea, button')).filter((el) => {
            const control = el as HTMLInputElement;
            const named = (control.labels?.length ?? 0) > 0 || control.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent?.trim());
            return !named && control.type !== 'hidden';
          }).length,
        );
        expect([hash, unlabelled]).toEqual([hash, 0]);
        await expectNothingRan(page);
      }
      await page.goto(`${base}/studio/#/campaigns/new`);
      await page.locator('#compose').waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'mobile-375.png') });
      // A link whose campaign id is a path of its own opens the list, and asks the API for no other path.
      const asked: string[] = [];
      page.on('request', (r) => asked.push(new URL(r.url()).pathname));
      await page.goto(`${base}/studio/#/campaigns/..%2Fusers%2Fu1%2Fexport`);
      await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
      await page.goto(`${base}/studio/#/%E0`);
      await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
      expect(asked.filter((p) => p.includes('/users/'))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test('when the studio is served, then its policy allows only its own files and this service, and a wrong key is refused', async () => {
    const res = await request(ctx.service.app).get('/studio/').expect(200);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.text).not.toMatch(/<script>|<script\s+>|\son\w+=/);
    const asset = /src="(\/studio\/assets\/[^"]+\.js)"/.exec(res.text)?.[1];
    expect(asset).toBeDefined();
    await request(ctx.service.app).get(String(asset)).expect(200).expect('content-type', /javascript/);
    await request(ctx.service.app).get('/studio/assets/..%2F..%2Fpackage.json').expect(404);
    const page = await browser.newPage();
    try {
      await page.goto(`${base}/studio/`);
      await page.getByLabel('API key').fill('wrong-key-0123456789');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('.error').filter({ hasText: 'refused' }).waitFor();
      expect(await page.getByRole('heading', { name: 'Campaigns' }).count()).toBe(0);
    } finally {
      await page.close();
    }
  });
});
