import fs from 'node:fs';
import path from 'node:path';
import { Router, type Response } from 'express';

export interface SdkDeps {
  serviceUrl: string;
  websitePushId: string;
  vapidPublicKey: string;
  /** The package's 256×256 icon, the default icon of Web Push notifications. */
  icon: Buffer;
}

/** The browser files, beside this module in src/ and copied next to it into dist/ by `npm run build`. */
const BROWSER_DIR = path.join(__dirname, 'browser');

/** JSON that is safe inside a script: `<` cannot close it. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function serveScript(res: Response, source: string) {
  // Loaded by the site's pages and service worker from another origin.
  res.set({ 'Content-Type': 'application/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=300', 'Cross-Origin-Resource-Policy': 'cross-origin' });
  res.send(source);
}

/** `/sdk.js` (with this deployment's settings filled in), `/sw.js` and `/icon.png`, public. */
export function sdkRouter(deps: SdkDeps): Router {
  const config = { serviceUrl: deps.serviceUrl, websitePushId: deps.websitePushId, vapidPublicKey: deps.vapidPublicKey };
  const sdk = fs.readFileSync(path.join(BROWSER_DIR, 'sdk.js'), 'utf8').replace('/*CONFIG*/ null', scriptJson(config));
  const sw = fs.readFileSync(path.join(BROWSER_DIR, 'sw.js'), 'utf8');
  const router = Router();
  router.get('/sdk.js', (_req, res) => serveScript(res, sdk));
  router.get('/sw.js', (_req, res) => serveScript(res, sw));
  router.get('/icon.png', (_req, res) => {
    res.set({ 'Content-Type': 'image/png', 'Cache-Control': 'public, max-age=86400', 'Cross-Origin-Resource-Policy': 'cross-origin' }).send(deps.icon);
  });
  return router;
}
