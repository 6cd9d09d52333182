import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, type WebsiteOverrides } from '../config/load';
import { pngSize } from './png';

/** The six icons Safari requires, with the pixel size each name promises (docs/protocol.md §1). */
export const ICONS: ReadonlyArray<{ file: string; size: number }> = [
  { file: 'icon_16x16.png', size: 16 },
  { file: 'icon_16x16@2x.png', size: 32 },
  { file: 'icon_32x32.png', size: 32 },
  { file: 'icon_32x32@2x.png', size: 64 },
  { file: 'icon_128x128.png', size: 128 },
  { file: 'icon_128x128@2x.png', size: 256 },
];

/** website.json without the per-user `authenticationToken`. */
export interface WebsiteTemplate {
  websiteName: string;
  websitePushID: string;
  allowedDomains: string[];
  urlFormatString: string;
  webServiceURL: string;
}

/** The validated raw package: the website template and the icons, keyed by their path in the zip. */
export interface RawPackage {
  website: WebsiteTemplate;
  icons: ReadonlyArray<{ name: string; data: Buffer }>;
}

function fail(dir: string, message: string): never {
  throw new ConfigError(`Push package in ${dir} (PUSH_PACKAGE_DIR): ${message}`);
}

function isHttpUrl(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** Counts `%@` placeholders; a notification must carry exactly as many `url-args`. */
export function placeholderCount(urlFormatString: string): number {
  return urlFormatString.split('%@').length - 1;
}

function readTemplate(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'website.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    fail(dir, 'website.json is missing');
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  fail(dir, 'website.json is not a JSON object');
}

function definedOnly(overrides: WebsiteOverrides): Partial<WebsiteTemplate> {
  return Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
}

/** Checks every key Safari checks, with the message Safari would log, before any visitor sees it. */
function validateWebsite(dir: string, website: Record<string, unknown>): WebsiteTemplate {
  const text = (key: string): string => {
    const value = website[key];
    if (typeof value !== 'string' || value.length === 0) fail(dir, `website.json key "${key}" is missing or not a string`);
    return value;
  };
  const websiteName = text('websiteName');
  const websitePushID = text('websitePushID');
  if (!/^web\.[A-Za-z0-9.-]+$/.test(websitePushID)) fail(dir, `websitePushID "${websitePushID}" must start with "web."`);
  const webServiceURL = text('webServiceURL');
  if (!isHttpUrl(webServiceURL, ['https:'])) fail(dir, `webServiceURL "${webServiceURL}" must be https (set WEB_SERVICE_URL)`);
  if (webServiceURL.endsWith('/')) fail(dir, `webServiceURL "${webServiceURL}" must not end with a slash`);
  const urlFormatString = text('urlFormatString');
  if (!isHttpUrl(urlFormatString.replaceAll('%@', 'x'), ['http:', 'https:'])) {
    fail(dir, `urlFormatString "${urlFormatString}" must have http or https scheme`);
  }
  const allowedDomains = website.allowedDomains;
  if (!Array.isArray(allowedDomains) || allowedDomains.length === 0) fail(dir, 'website.json key "allowedDomains" must be a non-empty array');
  for (const domain of allowedDomains) {
    if (typeof domain !== 'string' || !isHttpUrl(domain, ['http:', 'https:'])) {
      fail(dir, `allowedDomains entry ${JSON.stringify(domain)} must be an origin such as https://example.com`);
    }
  }
  return { websiteName, websitePushID, allowedDomains: allowedDomains as string[], urlFormatString, webServiceURL };
}

function readIcons(dir: string): RawPackage['icons'] {
  return ICONS.map(({ file, size }) => {
    const name = `icon.iconset/${file}`;
    let data: Buffer;
    try {
      data = fs.readFileSync(path.join(dir, name));
    } catch {
      fail(dir, `${name} is missing (Safari: "Missing file/image in push notification package")`);
    }
    const actual = pngSize(data);
    if (!actual) fail(dir, `${name} is not a PNG image`);
    if (actual.width !== size || actual.height !== size) {
      fail(dir, `${name} is ${actual.width}x${actual.height}, must be ${size}x${size}`);
    }
    return { name, data };
  });
}

/** Loads and validates the raw package, applying the environment's overrides to website.json. */
export function loadRawPackage(dir: string, overrides: WebsiteOverrides): RawPackage {
  // Any authenticationToken in the template is ignored: each package gets its own.
  const template: Record<string, unknown> = { ...readTemplate(dir), ...definedOnly(overrides) };
  return { website: validateWebsite(dir, template), icons: readIcons(dir) };
}
