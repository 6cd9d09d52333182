import fs from 'node:fs';
import path from 'node:path';
import { withConfigTable, CONFIG_DOC } from '../../src/config/docs';
import { ConfigError, loadConfig } from '../../src/config/load';
import { REPO_ROOT } from '../helpers/service';

describe('configuration', () => {
  test('when nothing is set, then the defaults give an embedded SQLite service in development mode', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      database: { url: 'sqlite:./data/push.sqlite' },
      packageDir: './package-raw',
      signing: { kind: 'development' },
      authTokenSecrets: [],
      apiKeys: [],
      logLevel: 'info',
    });
    expect(Object.isFrozen(config.website)).toBe(true);
  });

  test('when lists are given, then they are split on commas and trimmed', () => {
    const config = loadConfig({ API_KEYS: ' key-one-0123456789 , key-two-0123456789 ', ALLOWED_DOMAINS: 'https://a.example,https://b.example' });
    expect(config.apiKeys).toEqual(['key-one-0123456789', 'key-two-0123456789']);
    expect(config.website.allowedDomains).toEqual(['https://a.example', 'https://b.example']);
  });

  test.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ WEB_SERVICE_URL: 'http://push.example.com' }, 'WEB_SERVICE_URL'],
    [{ WEB_SERVICE_URL: 'https://push.example.com/' }, 'WEB_SERVICE_URL'],
    [{ WEBSITE_PUSH_ID: 'com.example' }, 'WEBSITE_PUSH_ID'],
    [{ AUTH_TOKEN_SECRET: 'short' }, 'AUTH_TOKEN_SECRET'],
    [{ API_KEYS: 'short' }, 'API_KEYS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ SIGNING_P12: 'a.p12', SIGNING_CERT: 'c.pem', SIGNING_KEY: 'k.pem', WWDR_CERT: 'w.pem' }, 'SIGNING_P12'],
    [{ SIGNING_CERT: 'c.pem', WWDR_CERT: 'w.pem' }, 'SIGNING_KEY'],
    [{ SIGNING_P12: 'a.p12' }, 'WWDR_CERT'],
    [{ WWDR_CERT: 'w.pem' }, 'WWDR_CERT'],
    [{ USER_TOKEN_SECRET: 't'.repeat(40) }, 'USER_TOKEN_SECRET is set without USER_INFO_SECRET'],
    [{ USER_TOKEN_SECRET: 's'.repeat(40), USER_INFO_SECRET: 's'.repeat(40) }, 'USER_TOKEN_SECRET must differ'],
    [{ EVENT_RETENTION_DAYS: '0' }, 'EVENT_RETENTION_DAYS'],
    [{ CLIENT_IP: 'partial' }, 'CLIENT_IP'],
    [{ QUIET_HOURS: '21:00' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS: '25:00-09:00' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS: '09:00-09:00' }, 'QUIET_HOURS'],
    [{ QUIET_HOURS_POLICY: 'drop' }, 'QUIET_HOURS_POLICY'],
    [{ FREQUENCY_CAPS: '3 per day' }, 'FREQUENCY_CAPS'],
    [{ FREQUENCY_CAPS: '3/1w' }, 'FREQUENCY_CAPS'],
    [{ SCHEDULER_INTERVAL_MS: '-1' }, 'SCHEDULER_INTERVAL_MS'],
  ])('when the environment has %p, then the start stops with a message naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(variable);
  });

  test('when FREQUENCY_CAPS is set, then each pair is a count in a rolling window', () => {
    expect(loadConfig({}).frequencyCaps).toEqual([]);
    expect(loadConfig({ FREQUENCY_CAPS: '3/1d, 10/7d' }).frequencyCaps).toEqual([
      { count: 3, windowMs: 86_400_000 },
      { count: 10, windowMs: 7 * 86_400_000 },
    ]);
  });

  test('when QUIET_HOURS is set, then campaigns keep that window in minutes after local midnight, with its policy (delay unless said)', () => {
    expect(loadConfig({}).quietHours).toBeUndefined();
    expect(loadConfig({ QUIET_HOURS: '21:00-09:00' }).quietHours).toEqual({ from: 1260, to: 540, policy: 'delay' });
    expect(loadConfig({ QUIET_HOURS: ' 22:30-07:15 ', QUIET_HOURS_POLICY: 'discard' }).quietHours).toEqual({ from: 1350, to: 435, policy: 'discard' });
  });

  test('when docs/configuration.md lists the settings, then its table is the one generated from the schema (npm run docs:config)', () => {
    const doc = fs.readFileSync(path.join(REPO_ROOT, CONFIG_DOC), 'utf8');
    expect(doc).toBe(withConfigTable(doc));
  });
});
