import fs from 'node:fs';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import type { SigningIdentity } from '../certs/identity';
import type { Config } from '../config/load';
import { iso } from '../http/paging';
import type { NotificationRepository } from '../notifications/repository';

export interface AdminDeps {
  config: Pick<Config, 'apns' | 'clickTracking' | 'queue' | 'database'>;
  identity: SigningIdentity;
  vapidPublicKey: string;
  vapidSubject: string;
  notifications: Pick<NotificationRepository, 'lastAnswers'>;
}

const DAY_MS = 86_400_000;

/** Attributes node-forge has no name for; Apple puts the website push ID in UID. */
const ATTRIBUTE_NAMES: Record<string, string> = { '0.9.2342.19200300.100.1.1': 'UID' };

const certificate = (cert: SigningIdentity['certificate']) => {
  const notAfter = cert.validity.notAfter.getTime();
  return {
    subject: cert.subject.attributes.map((a) => `${a.shortName ?? a.name ?? ATTRIBUTE_NAMES[a.type ?? ''] ?? a.type}=${String(a.value)}`).join(', '),
    notAfter: iso(notAfter),
    daysLeft: Math.floor((notAfter - Date.now()) / DAY_MS),
  };
};

/**
 * What an admin needs to know about the configuration's health, with no secret in it: signing
 * certificate expiry, how APNs and push services answered the last send, and the send settings.
 */
export function adminHealthRouter(deps: AdminDeps): Router {
  const router = Router();
  router.get('/admin/health', async (_req, res) => {
    const last = await deps.notifications.lastAnswers();
    const answer = (channel: 'safari' | 'webpush') => {
      const found = last[channel];
      if (!found) return null;
      // No status means the request got no answer at all: connection refused, reset or timed out.
      return { at: iso(found.at), outcome: found.outcome, status: found.status, reason: found.reason, reachable: found.status !== null };
    };
    res.json({
      signing: {
        development: deps.identity.development,
        certificate: certificate(deps.identity.certificate),
        intermediate: certificate(deps.identity.intermediate),
      },
      apns: {
        host: `${deps.config.apns.host}:${deps.config.apns.port}`,
        auth: deps.config.apns.auth.kind,
        ...(deps.config.apns.auth.kind === 'token' ? { keyId: deps.config.apns.auth.keyId, teamId: deps.config.apns.auth.teamId } : {}),
        lastAnswer: answer('safari'),
      },
      webPush: { vapidPublicKey: deps.vapidPublicKey, subject: deps.vapidSubject, lastAnswer: answer('webpush') },
      clickTracking: deps.config.clickTracking,
      queue: deps.config.queue.url ? 'bullmq' : 'in-process',
      database: deps.config.database.url.startsWith('postgres') ? 'postgresql' : 'sqlite',
    });
  });
  return router;
}

/** The page's own files, beside this module (copied into dist/ by `npm run build`). */
const BROWSER_DIR = path.join(__dirname, 'browser');
const FILES: Record<string, string> = { 'admin.js': 'application/javascript; charset=utf-8', 'admin.css': 'text/css; charset=utf-8' };

/**
 * The admin console: one static page over the JSON API. It holds no data and no secret; the API key
 * typed into its login form stays in the tab's sessionStorage and goes out as a Bearer header.
 */
export function adminPageRouter(): Router {
  const router = Router();
  const page = fs.readFileSync(path.join(BROWSER_DIR, 'admin.html'));
  const files = new Map(Object.entries(FILES).map(([name, type]) => [name, { type, body: fs.readFileSync(path.join(BROWSER_DIR, name)) }]));
  // Only its own script, style and API: whatever a log message holds, the page runs nothing else.
  const policy: RequestHandler = (_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  };
  router.get('/admin', policy, (_req, res) => {
    res.type('html').send(page);
  });
  router.get('/admin/:file', policy, (req, res, next) => {
    const file = files.get(String(req.params.file));
    if (!file) return next();
    res.type(file.type).send(file.body);
  });
  return router;
}
