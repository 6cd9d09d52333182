import type { ApnsClient } from './apns/client';
import { systemClock, type Clock } from './clock';
import { startHousekeeping, type Housekeeping } from './housekeeping';
import { createIdempotencyStore, type IdempotencyStore } from './idempotency/store';
import { startApnsClient } from './apns/threaded-client';
import { ensureDevelopmentIdentity } from './certs/dev-chain';
import { loadConfiguredIdentity, validateIdentity, type SigningIdentity } from './certs/identity';
import { resolveSecrets } from './config/dev-secrets';
import type { Config } from './config/load';
import { startWalCheckpointer, type WalCheckpointer } from './db/checkpointer';
import { migrate, openDatabase, type Db } from './db/connection';
import { createDeviceRepository, type DeviceRepository } from './devices/repository';
import { createEventWriter, sqliteFile, type EventWriter } from './audience/event-writer';
import { createAudienceRepository, type AudienceRepository } from './audience/repository';
import { createSegmentRepository, type SegmentRepository } from './audience/segments';
import { createCampaignRepository, type CampaignRepository } from './campaigns/repository';
import { startScheduler, type Scheduler } from './campaigns/scheduler';
import { createAttribution } from './results/attribution';
import type { Logger } from './logger';
import { createMetrics, type Metrics } from './metrics/metrics';
import { createLogRepository, type LogRepository } from './logs/repository';
import { createInProcessQueue, type SendQueue } from './notifications/queue';
import { createNotificationRepository, type NotificationRepository } from './notifications/repository';
import { createAuthTokens, type AuthTokens } from './safari/auth-token';
import { createPackageBuilder, createPackageSource, type PackageSource } from './safari/package-builder';
import { createClickRefs, type ClickRefs } from './clicks/click-ref';
import { loadRawPackage, type RawPackage, type WebsiteTemplate } from './safari/raw-package';
import { createWebPushClient, type WebPushClient } from './webpush/client';
import { createEndpointPolicy, type EndpointPolicy } from './webpush/endpoint';
import { resolveVapidKeys, type VapidKeys } from './webpush/vapid-keys';

/** Everything the routes need, built once at start-up. */
export interface AppContext {
  config: Config;
  logger: Logger;
  /** Where every schedule, window and expiry reads the time. */
  clock: Clock;
  db: Db;
  /** SQLite files: the thread that checkpoints the WAL beside the event loop. */
  checkpointer?: WalCheckpointer;
  /** Inserts events on a SQLite file, from its own thread. */
  eventWriter?: EventWriter;
  website: WebsiteTemplate;
  /** The package's 256×256 icon (icon_128x128@2x.png): the default Web Push icon. */
  icon: Buffer;
  identity: SigningIdentity;
  packages: PackageSource;
  authTokens: AuthTokens;
  apiKeys: string[];
  /** Where the generated development API key is, when API_KEYS is not set. */
  generatedApiKeyFile?: string;
  devices: DeviceRepository;
  /** Profiles, events, export and erasure. */
  audience: AudienceRepository;
  segments: SegmentRepository;
  campaigns: CampaignRepository;
  /** Fires campaign occurrences as they come due (every process runs one; see campaigns/scheduler.ts). */
  scheduler: Scheduler;
  logs: LogRepository;
  notifications: NotificationRepository;
  idempotency: IdempotencyStore;
  /** Retention of Safari logs and Idempotency-Keys (API processes only). */
  housekeeping?: Housekeeping;
  apns: ApnsClient;
  webPush: WebPushClient;
  /** Which push service endpoints the service may post to (WEBPUSH_ENDPOINT_HOSTS). */
  endpoints: EndpointPolicy;
  vapid: VapidKeys;
  /** Signs and checks click links (always; sends only use them when CLICK_TRACKING is on). */
  clickRefs: ClickRefs;
  queue: SendQueue;
  metrics: Metrics;
  /** Set when shutdown begins: /readyz answers 503 from then on. */
  state: { shuttingDown: boolean };
}

/**
 * Validates the package and the signing identity, resolves secrets, opens the database and
 * migrates it, and sets up the send queue (a `worker` always works on it). Throws ConfigError
 * (with what to fix) before anything listens.
 */
export async function createContext(config: Config, logger: Logger, role: 'api' | 'worker' = 'api', clock: Clock = systemClock): Promise<AppContext> {
  const raw = loadRawPackage(config.packageDir, config.website);
  const pushId = raw.website.websitePushID;
  const identity =
    config.signing.kind === 'development'
      ? ensureDevelopmentIdentity(config.dataDir, pushId, logger)
      : loadConfiguredIdentity(config.signing);
  validateIdentity(identity, pushId, logger);
  const secrets = resolveSecrets(config.dataDir, config, logger);
  if (!config.userInfoSecret) {
    logger.warn('USER_INFO_SECRET is not set: any page can claim any user id, and so receive that user\'s notifications and act on their Safari devices. Set it when notifications are personal (docs/security.md).');
  }
  if (config.userInfoSecret && !config.userTokenSecret) {
    logger.warn('USER_TOKEN_SECRET is not set: userToken JWTs are checked with USER_INFO_SECRET, the key that also signs plain user ids. If your backend signs a user id its visitor can choose (a username), that visitor can make a JWT for any user. Set USER_TOKEN_SECRET and sign JWTs with it (docs/security.md).');
  }
  const vapid = resolveVapidKeys(config, logger);
  const clickRefs = createClickRefs(secrets.authTokenSecrets);

  const apns = await startApnsClient(config.apns, identity, logger);
  const authTokens = createAuthTokens(secrets.authTokenSecrets, pushId);

  let db: Db;
  try {
    db = openDatabase(config.database.url, config.database.schema, logger);
  } catch (error) {
    await apns.close();
    throw error;
  }
  let checkpointer: WalCheckpointer | undefined;
  try {
    await migrate(db, config.database.schema);
    checkpointer = await startWalCheckpointer(db, logger);
  } catch (error) {
    await Promise.all([db.destroy(), apns.close()]);
    throw error;
  }
  const devices = createDeviceRepository(db);
  const notifications = createNotificationRepository(db, pushId, { frequencyCaps: config.frequencyCaps });
  const metrics = createMetrics();
  const webPush = createWebPushClient(vapid, {
    concurrency: config.webPush.concurrency,
    timeoutMs: config.apns.requestTimeoutMs,
    threads: config.webPush.threads,
    connectionsPerOrigin: config.webPush.connectionsPerOrigin,
    streamsPerConnection: config.webPush.streamsPerConnection,
    logger,
  });
  const endpoints = createEndpointPolicy(config.webPush.endpointHosts);
  const senderDeps = { apns, webPush, endpoints, clickRefs: config.clickTracking ? clickRefs : undefined, notifications, devices, logger, metrics, clock };
  const senderOptions = {
    topic: pushId,
    maxAttempts: config.apns.maxAttempts,
    retryBaseMs: config.apns.retryBaseMs,
    pageSize: config.queue.pageSize,
    // Room for devices waiting out a retry delay beside the ones whose requests are in flight.
    concurrency: { safari: 2 * config.apns.connections * config.apns.streamsPerConnection, webpush: 2 * config.webPush.concurrency },
    urlFormatString: raw.website.urlFormatString,
    serviceUrl: raw.website.webServiceURL,
    webPushTtlSeconds: config.webPush.ttlSeconds,
  };
  // BullMQ and its Redis client are loaded only when QUEUE_URL asks for them.
  const queue = config.queue.url
    ? (require('./notifications/bullmq-queue') as typeof import('./notifications/bullmq-queue')).createBullQueue(
        senderDeps,
        senderOptions,
        {
          url: config.queue.url,
          name: config.queue.name,
          work: role === 'worker' || config.queue.workerInApi,
          concurrency: config.queue.concurrency,
          lockMs: config.queue.lockMs,
        },
        logger,
      )
    : createInProcessQueue(senderDeps, { ...senderOptions, maxParallel: 4 }, logger);
  metrics.observeQueue(async () => ({ ...(await queue.stats()), inFlight: apns.inFlight }));
  const logs = createLogRepository(db);
  const idempotency = createIdempotencyStore(db);
  const eventFile = sqliteFile(db);
  const eventWriter = eventFile ? createEventWriter(eventFile, logger) : undefined;
  const audience = createAudienceRepository(db, pushId, { eventWriter });
  const segments = createSegmentRepository(db, pushId);
  const campaigns = createCampaignRepository(db);
  const scheduler = startScheduler({
    campaigns,
    notifications,
    segments,
    queue,
    clock,
    logger,
    metrics,
    urlFormatString: raw.website.urlFormatString,
    links: { clickTracking: config.clickTracking, serviceUrl: raw.website.webServiceURL },
    quietHours: config.quietHours,
    leaseMs: config.schedulerLeaseMs, intervalMs: config.schedulerIntervalMs,
    attribution: createAttribution(db) });
  const housekeeping =
    role === 'api' ? startHousekeeping({ logs, idempotency, audience, notifications, frequencyCaps: config.frequencyCaps, clock, logger, logRetentionDays: config.logRetentionDays, eventRetentionDays: config.eventRetentionDays }) : undefined;
  return {
    config,
    logger,
    clock,
    db,
    checkpointer,
    eventWriter,
    website: raw.website,
    icon: (raw.icons.find((entry) => entry.name.endsWith('icon_128x128@2x.png')) ?? raw.icons[raw.icons.length - 1]).data,
    identity,
    packages: createPackageSource(createPackageBuilder(config.clickTracking ? withClickTracking(raw) : raw, identity), (userId, facts) => authTokens.mint(userId, facts), config.packageCache),
    authTokens,
    apiKeys: secrets.apiKeys,
    ...(secrets.generatedApiKeyFile ? { generatedApiKeyFile: secrets.generatedApiKeyFile } : {}),
    devices,
    audience,
    segments,
    campaigns,
    scheduler,
    logs,
    notifications,
    idempotency,
    housekeeping,
    apns,
    webPush,
    endpoints,
    vapid,
    clickRefs,
    queue,
    metrics,
    state: { shuttingDown: false },
  };
}

/**
 * With click tracking, Safari opens this service's click endpoint, which counts the click and
 * redirects to the site's own urlFormatString; the one `%@` is a signed reference (click-ref.ts).
 */
function withClickTracking(raw: RawPackage): RawPackage {
  return { ...raw, website: { ...raw.website, urlFormatString: `${raw.website.webServiceURL}/click/%@` } };
}

/** Releases what createContext opened. */
export async function closeContext(context: AppContext): Promise<void> {
  await context.housekeeping?.stop();
  await context.scheduler.stop();
  await context.queue.stop();
  await context.apns.close();
  await context.webPush.close();
  await context.eventWriter?.close();
  await context.checkpointer?.close();
  await context.db.destroy();
}
