import fs from 'node:fs';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';

/**
 * Where Vite wrote the studio (`npm run build`): dist/studio, beside dist/src when this runs
 * compiled, or under dist/ of the repository when it runs from the TypeScript sources (tests).
 */
function builtStudio(): string | undefined {
  return [path.resolve(__dirname, '../../studio'), path.resolve(__dirname, '../../dist/studio')].find((dir) => fs.existsSync(path.join(dir, 'assets')) && fs.existsSync(path.join(dir, 'index.html')));
}

const TYPES: Record<string, string> = { '.js': 'application/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const ASSET = /^[A-Za-z0-9_-]+\.(js|css)$/;

/**
 * The campaign studio at /studio/: a Preact app over the public JSON API (docs/studio.md). Like the
 * console it holds no data and no secret; its policy lets it run and load nothing but its own files
 * and talk to nothing but this service, so no text it shows (titles, attribute values, event
 * names) can run as script.
 */
export function studioRouter(): Router {
  const router = Router();
  const dir = builtStudio();
  const page = dir ? fs.readFileSync(path.join(dir, 'index.html')) : undefined;
  const assets = new Map<string, { type: string; body: Buffer }>();
  if (dir) {
    for (const name of fs.readdirSync(path.join(dir, 'assets'))) {
      const type = TYPES[path.extname(name)];
      if (type && ASSET.test(name)) assets.set(name, { type, body: fs.readFileSync(path.join(dir, 'assets', name)) });
    }
  }
  const policy: RequestHandler = (_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; font-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
    });
    next();
  };
  // Routing ignores a trailing slash: /studio is sent on to /studio/, where the app's relative paths work.
  router.get('/studio', policy, (req, res) => {
    if (!req.originalUrl.split('?')[0].endsWith('/')) {
      res.redirect(301, '/studio/');
      return;
    }
    if (!page) {
      res.status(503).type('text/plain').send('The campaign studio is not built: run npm run build.\n');
      return;
    }
    res.set('Cache-Control', 'no-store').type('html').send(page);
  });
  router.get('/studio/assets/:file', policy, (req, res, next) => {
    const asset = assets.get(String(req.params.file));
    if (!asset) return next();
    // Content-hashed names: a new build has new names.
    res.set('Cache-Control', 'public, max-age=31536000, immutable').type(asset.type).send(asset.body);
  });
  return router;
}
