/**
 * Browser and OS families from a User-Agent header, for segments ("device browser is firefox").
 * Only the families that can receive a push are told apart; everything else is "other". Written
 * here rather than taken from a UA library: the set is small and fixed, and the order of the tests
 * below is the whole of the logic (Edge and Opera say "Chrome", Chrome says "Safari").
 */
export type Browser = 'edge' | 'opera' | 'samsung' | 'firefox' | 'chrome' | 'safari' | 'other';
export type Os = 'windows' | 'ios' | 'macos' | 'android' | 'chromeos' | 'linux' | 'other';

const BROWSERS: Array<[RegExp, Browser]> = [
  [/\bEdg(e|A|iOS)?\//, 'edge'],
  [/\b(OPR|Opera)\//, 'opera'],
  [/\bSamsungBrowser\//, 'samsung'],
  [/\b(Firefox|FxiOS)\//, 'firefox'],
  [/\b(Chrome|Chromium|CriOS|HeadlessChrome)\//, 'chrome'],
  [/\bSafari\//, 'safari'],
];

const SYSTEMS: Array<[RegExp, Os]> = [
  [/\bWindows\b/, 'windows'],
  [/\b(iPhone|iPad|iPod)\b/, 'ios'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macos'],
  [/\bAndroid\b/, 'android'],
  [/\bCrOS\b/, 'chromeos'],
  [/\bLinux\b/, 'linux'],
];

export function parseUserAgent(header: string | undefined): { browser: Browser | null; os: Os | null } {
  if (!header) return { browser: null, os: null };
  // Only the start is read: real User-Agents are a few hundred characters.
  const ua = header.slice(0, 512);
  const browser = BROWSERS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'other';
  const os = SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'other';
  return { browser, os };
}
