import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../src/config/load';
import { createTestDatabase } from '../helpers/databases';
import { buildService, REPO_ROOT, tempDir } from '../helpers/service';

/** A copy of the example raw package, changed by `mutate`. */
function rawPackage(mutate: (dir: string) => void): string {
  const dir = tempDir('safari-push-raw-');
  fs.cpSync(path.join(REPO_ROOT, 'package-raw'), dir, { recursive: true });
  mutate(dir);
  return dir;
}

function editWebsite(change: (website: Record<string, unknown>) => void) {
  return (dir: string) => {
    const file = path.join(dir, 'website.json');
    const website = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    change(website);
    fs.writeFileSync(file, JSON.stringify(website));
  };
}

const icon = (dir: string, name: string) => path.join(dir, 'icon.iconset', name);

describe('raw package checks at start-up', () => {
  test.each([
    ['an icon is missing', (dir: string) => fs.rmSync(icon(dir, 'icon_32x32@2x.png')), 'icon.iconset/icon_32x32@2x.png is missing'],
    ['an icon has the wrong size', (dir: string) => fs.copyFileSync(icon(dir, 'icon_16x16.png'), icon(dir, 'icon_128x128.png')), 'is 16x16, must be 128x128'],
    ['an icon is not a PNG', (dir: string) => fs.writeFileSync(icon(dir, 'icon_16x16.png'), 'GIF89a'), 'is not a PNG'],
    ['website.json is missing', (dir: string) => fs.rmSync(path.join(dir, 'website.json')), 'website.json is missing'],
    ['website.json is not JSON', (dir: string) => fs.writeFileSync(path.join(dir, 'website.json'), '{'), 'not a JSON object'],
    ['websiteName is missing', editWebsite((w) => delete w.websiteName), '"websiteName" is missing'],
    ['webServiceURL is http', editWebsite((w) => (w.webServiceURL = 'http://push.example.com')), 'must be https'],
    ['webServiceURL ends with a slash', editWebsite((w) => (w.webServiceURL = 'https://push.example.com/')), 'must not end with a slash'],
    ['urlFormatString is not http(s)', editWebsite((w) => (w.urlFormatString = 'ftp://example.com/%@')), 'must have http or https scheme'],
    ['the push ID does not start with web.', editWebsite((w) => (w.websitePushID = 'com.example')), 'must start with "web."'],
    ['allowedDomains is empty', editWebsite((w) => (w.allowedDomains = [])), '"allowedDomains" must be a non-empty array'],
    ['allowedDomains holds a non-origin', editWebsite((w) => (w.allowedDomains = ['example.com'])), 'must be an origin'],
  ])('when %s, then the start stops saying what to fix', async (_label, mutate, message) => {
    const database = createTestDatabase('sqlite');
    try {
      const start = buildService(database, { PUSH_PACKAGE_DIR: rawPackage(mutate) });
      await expect(start).rejects.toThrow(ConfigError);
      await expect(start).rejects.toThrow(message);
    } finally {
      await database.drop();
    }
  });

  test('when the environment overrides website fields, then packages carry the overrides', async () => {
    const database = createTestDatabase('sqlite');
    const service = await buildService(database, {
      WEBSITE_PUSH_ID: 'web.com.acme',
      WEBSITE_NAME: 'Acme',
      WEB_SERVICE_URL: 'https://push.acme.test',
      ALLOWED_DOMAINS: 'https://acme.test',
      URL_FORMAT_STRING: 'https://acme.test/%@',
    });
    try {
      expect(service.context.website).toEqual({
        websiteName: 'Acme',
        websitePushID: 'web.com.acme',
        webServiceURL: 'https://push.acme.test',
        allowedDomains: ['https://acme.test'],
        urlFormatString: 'https://acme.test/%@',
      });
    } finally {
      await service.close();
      await database.drop();
    }
  });
});
