import { durationMs } from '../campaigns/schedule';
import { minutesOf, type QuietHours } from '../campaigns/rules';
import { z } from 'zod';
import { parseHostRules } from '../webpush/endpoint';
import { ConfigError } from './error';
import { configSchema, type ConfigInput } from './schema';

/** Where the website push certificate comes from; `development` means none was configured. */
export type SigningSource =
  | { kind: 'p12'; p12Path: string; passphrase: string; wwdrPath: string }
  | { kind: 'pem'; certPath: string; keyPath: string; wwdrPath: string }
  | { kind: 'development' };

/** Fields of website.json that the environment may override. */
export interface WebsiteOverrides {
  websitePushID?: string;
  websiteName?: string;
  webServiceURL?: string;
  allowedDomains?: string[];
  urlFormatString?: string;
}

/** How the service authenticates to APNs. */
export type ApnsAuth = { kind: 'token'; keyFile: string; keyId: string; teamId: string } | { kind: 'certificate' };

/** APNs connection and retry settings. */
export interface ApnsConfig {
  host: string;
  port: number;
  auth: ApnsAuth;
  connections: number;
  /** Worker threads sharing the connections; 0 = on the main event loop. */
  threads: number;
  streamsPerConnection: number;
  requestTimeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
}

/** The service's configuration: parsed once, typed, frozen. */
export interface Config {
  port: number;
  host: string;
  database: { url: string; schema?: string };
  dataDir: string;
  packageDir: string;
  website: WebsiteOverrides;
  signing: SigningSource;
  /** Empty means: generate a development secret in `dataDir`. */
  authTokenSecrets: string[];
  /** Empty means: generate a development key in `dataDir`. */
  apiKeys: string[];
  apns: ApnsConfig;
  userInfoSecret?: string;
  /** The key of userToken JWTs; USER_INFO_SECRET when unset. */
  userTokenSecret?: string;
  packageCache: { size: number; ttlMs: number };
  /** Where send work runs; `url` undefined = in this process. */
  queue: { url?: string; name: string; workerInApi: boolean; concurrency: number; lockMs: number; pageSize: number };
  /** Web Push; `vapid` undefined = generate development keys in `dataDir`. */
  webPush: {
    vapid?: { publicKey: string; privateKey: string; subject: string };
    endpointHosts: string[];
    concurrency: number;
    threads: number;
    connectionsPerOrigin: number;
    streamsPerConnection: number;
    ttlSeconds: number;
  };
  clickTracking: boolean;
  rateLimitPerMinute: number;
  trustProxy: boolean | number | string;
  metricsAuth: 'none' | 'api-key';
  shutdownTimeoutMs: number;
  /** Days Safari log messages are kept. */
  logRetentionDays: number;
  eventRetentionDays: number;
  /** Milliseconds between campaign scheduler rounds; 0: none in this process. */
  schedulerIntervalMs: number;
  /** How long a scheduler's lease on an occurrence or send lasts. */
  schedulerLeaseMs: number;
  /** FREQUENCY_CAPS: at most `count` capped notifications per user in any `windowMs`. */
  frequencyCaps: Array<{ count: number; windowMs: number }>;
  /** QUIET_HOURS with its policy: minutes after local midnight. */
  quietHours?: QuietHours;
  clientIp: 'full' | 'truncated' | 'none';
  logLevel: ConfigInput['LOG_LEVEL'];
}

export { ConfigError };

function signingSource(env: ConfigInput): SigningSource {
  const { SIGNING_P12, SIGNING_CERT, SIGNING_KEY, WWDR_CERT } = env;
  if (SIGNING_P12 && (SIGNING_CERT || SIGNING_KEY)) {
    throw new ConfigError('SIGNING_P12 and SIGNING_CERT/SIGNING_KEY are both set: configure one signing identity');
  }
  if (Boolean(SIGNING_CERT) !== Boolean(SIGNING_KEY)) {
    throw new ConfigError('SIGNING_CERT and SIGNING_KEY go together: set both PEM files or neither');
  }
  const configured = Boolean(SIGNING_P12 || SIGNING_CERT);
  if (!configured) {
    if (WWDR_CERT) throw new ConfigError('WWDR_CERT is set but no signing identity: set SIGNING_P12 or SIGNING_CERT + SIGNING_KEY');
    return { kind: 'development' };
  }
  if (!WWDR_CERT) {
    throw new ConfigError('WWDR_CERT is required with a signing identity: Safari rejects packages without Apple\'s WWDR intermediate');
  }
  if (SIGNING_P12) return { kind: 'p12', p12Path: SIGNING_P12, passphrase: env.SIGNING_P12_PASSPHRASE, wwdrPath: WWDR_CERT };
  return { kind: 'pem', certPath: SIGNING_CERT as string, keyPath: SIGNING_KEY as string, wwdrPath: WWDR_CERT };
}

function apnsAuth(env: ConfigInput): ApnsAuth {
  const { APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID } = env;
  const given = [APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID].filter(Boolean).length;
  if (given === 0) return { kind: 'certificate' };
  if (given < 3) throw new ConfigError('APNS_KEY_FILE, APNS_KEY_ID and APNS_TEAM_ID go together: set all three for token auth, or none for certificate auth');
  return { kind: 'token', keyFile: APNS_KEY_FILE as string, keyId: APNS_KEY_ID as string, teamId: APNS_TEAM_ID as string };
}

function vapidKeys(env: ConfigInput): Config['webPush']['vapid'] {
  const { VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT } = env;
  const given = [VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT].filter(Boolean).length;
  if (given === 0) return undefined;
  if (given < 3) throw new ConfigError('VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT go together: set all three, or none for development keys');
  return { publicKey: VAPID_PUBLIC_KEY as string, privateKey: VAPID_PRIVATE_KEY as string, subject: VAPID_SUBJECT as string };
}

/** `true`/`false`, a hop count, or the address list express understands. */
function trustProxy(value: string): boolean | number | string {
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`).join('; ');
}

/** Reads the configuration from an environment (default `process.env`); throws ConfigError naming the bad variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(environment);
  if (!parsed.success) throw new ConfigError(`Invalid configuration: ${describeIssues(parsed.error)}`);
  const env = parsed.data;
  if (env.APNS_THREADS > env.APNS_CONNECTIONS) {
    throw new ConfigError(`APNS_THREADS (${env.APNS_THREADS}) is more than APNS_CONNECTIONS (${env.APNS_CONNECTIONS}): each thread needs a connection of its own`);
  }
  if (env.USER_TOKEN_SECRET && !env.USER_INFO_SECRET) {
    throw new ConfigError('USER_TOKEN_SECRET is set without USER_INFO_SECRET: user ids are checked only when USER_INFO_SECRET is set, so set both (or neither)');
  }
  if (env.USER_TOKEN_SECRET && env.USER_TOKEN_SECRET === env.USER_INFO_SECRET) {
    throw new ConfigError('USER_TOKEN_SECRET must differ from USER_INFO_SECRET: keeping the two keys apart is its whole point');
  }
  try {
    parseHostRules(env.WEBPUSH_ENDPOINT_HOSTS);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const config: Config = {
    port: env.PORT,
    host: env.HOST,
    database: { url: env.DATABASE_URL, schema: env.DATABASE_SCHEMA },
    dataDir: env.DATA_DIR,
    packageDir: env.PUSH_PACKAGE_DIR,
    website: {
      websitePushID: env.WEBSITE_PUSH_ID,
      websiteName: env.WEBSITE_NAME,
      webServiceURL: env.WEB_SERVICE_URL,
      allowedDomains: env.ALLOWED_DOMAINS.length > 0 ? env.ALLOWED_DOMAINS : undefined,
      urlFormatString: env.URL_FORMAT_STRING,
    },
    signing: signingSource(env),
    authTokenSecrets: env.AUTH_TOKEN_SECRET,
    apiKeys: env.API_KEYS,
    apns: {
      host: env.APNS_HOST,
      port: env.APNS_PORT,
      auth: apnsAuth(env),
      connections: env.APNS_CONNECTIONS,
      threads: env.APNS_THREADS,
      streamsPerConnection: env.APNS_STREAMS_PER_CONNECTION,
      requestTimeoutMs: env.APNS_REQUEST_TIMEOUT_MS,
      maxAttempts: env.APNS_MAX_ATTEMPTS,
      retryBaseMs: env.APNS_RETRY_BASE_MS,
    },
    userInfoSecret: env.USER_INFO_SECRET,
    userTokenSecret: env.USER_TOKEN_SECRET,
    packageCache: { size: env.PACKAGE_CACHE_SIZE, ttlMs: env.PACKAGE_CACHE_TTL_SECONDS * 1000 },
    queue: {
      url: env.QUEUE_URL,
      name: env.QUEUE_NAME,
      workerInApi: env.QUEUE_WORKER_IN_API === 'true',
      concurrency: env.WORKER_CONCURRENCY,
      lockMs: env.QUEUE_LOCK_MS,
      pageSize: env.SEND_PAGE_SIZE,
    },
    webPush: {
      vapid: vapidKeys(env),
      endpointHosts: env.WEBPUSH_ENDPOINT_HOSTS,
      concurrency: env.WEBPUSH_CONCURRENCY,
      threads: env.WEBPUSH_THREADS,
      connectionsPerOrigin: env.WEBPUSH_CONNECTIONS_PER_ORIGIN,
      streamsPerConnection: env.WEBPUSH_STREAMS_PER_CONNECTION,
      ttlSeconds: env.WEBPUSH_TTL_SECONDS,
    },
    clickTracking: env.CLICK_TRACKING === 'true',
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    trustProxy: trustProxy(env.TRUST_PROXY),
    metricsAuth: env.METRICS_AUTH,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    logRetentionDays: env.LOG_RETENTION_DAYS,
    eventRetentionDays: env.EVENT_RETENTION_DAYS,
    schedulerIntervalMs: env.SCHEDULER_INTERVAL_MS,
    schedulerLeaseMs: env.SCHEDULER_LEASE_MS,
    frequencyCaps: (env.FREQUENCY_CAPS ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const [count, duration] = pair.split('/');
        return { count: Number(count), windowMs: durationMs(duration) };
      }),
    ...(env.QUIET_HOURS ? { quietHours: { from: minutesOf(env.QUIET_HOURS.slice(0, 5)), to: minutesOf(env.QUIET_HOURS.slice(6)), policy: env.QUIET_HOURS_POLICY } } : {}),
    clientIp: env.CLIENT_IP,
    logLevel: env.LOG_LEVEL,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
