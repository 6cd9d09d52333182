import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { DeviceRepository } from '../devices/repository';
import { parseDeviceToken } from '../devices/device-token';
import { AppError, badRequest, notFound, unauthorized } from '../errors';
import { storedText } from '../http/text';
import { reportedLanguage, reportedTimezone } from '../audience/values';
import { keptClientIp, type ClientIpPolicy } from '../http/client-ip';
import { parseInput } from '../http/validate';
import { perMinuteLimit } from '../http/rate-limit';
import type { LogRepository } from '../logs/repository';
import type { Metrics } from '../metrics/metrics';
import type { AuthTokens, TokenClaims } from './auth-token';
import type { PackageSource } from './package-builder';
import { verifiedUserId, type UserSecrets } from './user-identity';

export interface SafariDeps {
  websitePushID: string;
  /** USER_INFO_SECRET: when set, user ids must be signed by the site's backend. */
  userInfoSecret?: string | UserSecrets;
  packages: PackageSource;
  authTokens: AuthTokens;
  devices: DeviceRepository;
  logs: LogRepository;
  metrics: Pick<Metrics, 'packageServed' | 'registration' | 'safariLogMessages'>;
  /** Requests per minute per client address for each endpoint; 0 = unlimited. */
  rateLimitPerMinute: number;
  /** CLIENT_IP: how the address of a client that posts a log is kept. */
  clientIp: ClientIpPolicy;
}

// Safari posts JSON; accept it whatever Content-Type it claims.
const anyJson = (limit: string) => express.json({ limit, type: () => true, strict: true });

const userInfoSchema = z
  .object({
    userId: z
      .union([storedText().min(1).max(255), z.number().int().safe().transform(String)])
      .nullable()
      .optional(),
    signature: storedText().max(128).optional(),
    userToken: storedText().max(4096).optional(),
    // Device facts the SDK adds to userInfo; they travel in the package's token to the registration.
    timezone: reportedTimezone.optional(),
    language: reportedLanguage.optional(),
  })
  .loose();

const logBodySchema = z.object({
  logs: z.array(storedText().max(4096, 'each message must be at most 4096 characters')).min(1).max(100),
});

const notYours = () => new AppError(403, 'device_registered_elsewhere', 'This device is registered with another authenticationToken: it must be unregistered with that one first');

function apiVersion(req: Request): number {
  return Number(String(req.params.version).slice(1));
}

/** Safari's four endpoints (docs/protocol.md §1), mounted at the root of `webServiceURL`. */
export function safariRouter(deps: SafariDeps): Router {
  const router = Router();

  // `{version}` is v1, v2, …: anything else is not a Safari route.
  router.param('version', (_req, _res, next, value: string) => next(/^v\d{1,3}$/.test(value) ? undefined : 'route'));
  router.param('websitePushID', (_req, _res, next, value: string) =>
    next(value === deps.websitePushID ? undefined : notFound(`Unknown websitePushID ${JSON.stringify(value.slice(0, 100))}`, 'unknown_website_push_id')),
  );

  const authenticate = (req: Request): TokenClaims => {
    const match = /^ApplePushNotifications\s+(\S+)\s*$/.exec(req.get('authorization') ?? '');
    const claims = match ? deps.authTokens.verify(match[1]) : undefined;
    if (!claims) throw unauthorized('Send Authorization: ApplePushNotifications <authenticationToken> from this service\'s push package');
    return claims;
  };

  const limits = { packages: perMinuteLimit(deps.rateLimitPerMinute), registrations: perMinuteLimit(deps.rateLimitPerMinute), log: perMinuteLimit(deps.rateLimitPerMinute) };

  router.post('/:version/pushPackages/:websitePushID', ...limits.packages, anyJson('16kb'), async (req, res) => {
    if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
      throw badRequest('userInfo must be a JSON object', 'invalid_user_info');
    }
    const userInfo = parseInput(userInfoSchema, req.body ?? {}, 'userInfo');
    const version = apiVersion(req);
    const zip = await deps.packages.packageFor(verifiedUserId(userInfo, deps.userInfoSecret), version, { timezone: userInfo.timezone ?? null, language: userInfo.language ?? null });
    deps.metrics.packageServed(version);
    res.set('Cache-Control', 'no-store').type('application/zip').send(zip);
  });

  const registrationPath = '/:version/devices/:deviceToken/registrations/:websitePushID';
  router.post(registrationPath, ...limits.registrations, async (req, res) => {
    const token = parseDeviceToken(req.params.deviceToken as string);
    const claims = authenticate(req);
    // Legacy Safari push exists only in Safari on macOS.
    const facts = { browser: 'safari', os: 'macos', timezone: claims.timezone, language: claims.language };
    const result = await deps.devices.register({ token, websitePushId: deps.websitePushID, userId: claims.userId, nonce: claims.nonce, now: Date.now(), facts });
    if (result === 'refused') throw notYours();
    deps.metrics.registration('register');
    res.status(200).end();
  });
  router.delete(registrationPath, ...limits.registrations, async (req, res) => {
    const token = parseDeviceToken(req.params.deviceToken as string);
    const claims = authenticate(req);
    // Safari deletes with the token of the package it registered with, so the owners match. A valid
    // token of another user, or of another anonymous package (anyone can get one), must not remove
    // someone's device: the check and the delete are one statement.
    const result = await deps.devices.unregister({ token, websitePushId: deps.websitePushID, userId: claims.userId, nonce: claims.nonce });
    if (result === 'refused') throw notYours();
    deps.metrics.registration('unregister');
    res.status(200).end();
  });

  router.post('/:version/log', ...limits.log, anyJson('64kb'), async (req, res) => {
    const { logs } = parseInput(logBodySchema, req.body, 'log report');
    await deps.logs.add(logs, { clientIp: keptClientIp(req.ip, deps.clientIp), userAgent: req.get('user-agent')?.slice(0, 512) ?? null, now: Date.now() });
    deps.metrics.safariLogMessages(logs.length);
    res.status(200).end();
  });

  return router;
}
