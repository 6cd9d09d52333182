import { z } from 'zod';

/** A comma-separated list; empty items are dropped, an unset variable is an empty list. */
const commaList = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

/** An unset or blank variable counts as not given. */
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim().length > 0 ? value.trim() : undefined));

const httpsUrl = z
  .string()
  .url()
  .refine((value) => value.startsWith('https://'), 'must be an https:// URL')
  .refine((value) => !value.endsWith('/'), 'must not end with a slash')
  .optional();

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Every setting the service reads from the environment, each described once.
 * The settings table of docs/configuration.md is generated from these descriptions (`npm run docs:config`)
 * and a test checks that it is up to date.
 */
export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000).describe('TCP port to listen on.'),
  HOST: z.string().min(1).default('0.0.0.0').describe('Address to listen on.'),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:PATH or postgres://…')
    .default('sqlite:./data/push.sqlite')
    .describe('`sqlite:PATH` selects SQLite (embedded), `postgres://…` selects PostgreSQL. Migrations run at start.'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
    .optional()
    .describe('PostgreSQL only: schema to keep the tables in (created if missing). Default: the connection\'s search path.'),
  DATA_DIR: z
    .string()
    .min(1)
    .default('./data')
    .describe('Folder for generated development certificates and secrets (not used when all are configured). The database follows `DATABASE_URL`, not this.'),
  PUSH_PACKAGE_DIR: z
    .string()
    .min(1)
    .default('./package-raw')
    .describe('The raw push package: a `website.json` template and `icon.iconset/` with six icons.'),
  WEBSITE_PUSH_ID: z
    .string()
    .regex(/^web\.[A-Za-z0-9.-]+$/, 'must start with "web." (reverse-domain, e.g. web.com.example)')
    .optional()
    .describe('Overrides `websitePushID` of the template. Must equal the certificate\'s UID.'),
  WEBSITE_NAME: optionalText.describe('Overrides `websiteName` of the template (Notification Center heading).'),
  WEB_SERVICE_URL: httpsUrl.describe('Overrides `webServiceURL`: the public https URL of this service, no trailing slash.'),
  ALLOWED_DOMAINS: commaList.describe('Overrides `allowedDomains`: comma list of the site\'s full origins (scheme, host, port if any: `https://example.com,https://www.example.com`) whose pages may ask permission and subscribe.'),
  URL_FORMAT_STRING: optionalText.describe('Overrides `urlFormatString`: http(s) URL opened on click; each `%@` is filled from `urlArgs`.'),
  SIGNING_P12: optionalText.describe('Website push certificate and key as a .p12 file exported from Keychain.'),
  SIGNING_P12_PASSPHRASE: z.string().default('').describe('Passphrase of `SIGNING_P12`.'),
  SIGNING_CERT: optionalText.describe('Website push certificate, PEM file (instead of `SIGNING_P12`).'),
  SIGNING_KEY: optionalText.describe('Private key of `SIGNING_CERT`, unencrypted PEM file.'),
  WWDR_CERT: optionalText.describe('Apple WWDR intermediate certificate (PEM) that issued the website push certificate. Required with a signing identity.'),
  AUTH_TOKEN_SECRET: commaList
    .refine((list) => list.every((secret) => secret.length >= 32), 'each secret must be at least 32 characters')
    .describe('Comma list of secrets for `authenticationToken`s: the first mints, all verify (rotation). Generated into `DATA_DIR` when unset.'),
  USER_INFO_SECRET: optionalText
    .refine((secret) => secret === undefined || secret.length >= 32, 'must be at least 32 characters')
    .describe('When set, a `userId` in userInfo counts only with a signature from the site\'s backend (HMAC-SHA256 hex in `signature`, or an HS256 JWT in `userToken`); otherwise 403.'),
  USER_TOKEN_SECRET: optionalText
    .refine((secret) => secret === undefined || secret.length >= 32, 'must be at least 32 characters')
    .describe('The key of `userToken` JWTs (HS256), kept apart from `USER_INFO_SECRET`. Without it JWTs are checked with `USER_INFO_SECRET`, and a site that signs a user id its visitor chose (a username) lets that visitor make a JWT for anyone: set it (a warning says so at start).'),
  API_KEYS: commaList
    .refine((list) => list.every((key) => key.length >= 16), 'each key must be at least 16 characters')
    .describe('Comma list of bearer keys for the send and admin API (`/api/*` but the page-facing `/api/v1/webpush/public-key`, `/api/v1/subscriptions` and `/api/v1/sdk/events`); several may be active during rotation. Generated into `DATA_DIR` when unset.'),
  APNS_KEY_FILE: optionalText.describe('Token auth: the APNs signing key (.p8). With `APNS_KEY_ID` and `APNS_TEAM_ID`; without them, APNs is reached with the website push certificate.'),
  APNS_KEY_ID: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key ID').optional().describe('Token auth: the key ID of `APNS_KEY_FILE`.'),
  APNS_TEAM_ID: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character team ID').optional().describe('Token auth: your Apple developer team ID.'),
  APNS_HOST: z.string().min(1).default('api.push.apple.com').describe('APNs host; point it at a stand-in for development (trust its certificate with `NODE_EXTRA_CA_CERTS`).'),
  APNS_PORT: z.coerce.number().int().min(1).max(65535).default(443).describe('APNs port.'),
  APNS_CONNECTIONS: z.coerce.number().int().min(1).max(64).default(2).describe('HTTP/2 connections to APNs, used round-robin.'),
  APNS_THREADS: z.coerce
    .number()
    .int()
    .min(0)
    .max(16)
    .default(1)
    .describe('Worker threads that talk to APNs, sharing `APNS_CONNECTIONS` (at most one thread per connection); TLS, HTTP/2 and node-apn then run beside the event loop that answers HTTP. 0 keeps APNs on the event loop.'),
  APNS_STREAMS_PER_CONNECTION: z.coerce.number().int().min(1).max(1000).default(100).describe('Most requests in flight on one connection; APNs refuses streams past its limit.'),
  APNS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(120000).default(10000).describe('A request without an answer by then counts as a transient failure.'),
  APNS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5).describe('Attempts per device for transient failures (429, 5xx, connection errors, timeouts), on APNs and Web Push alike.'),
  APNS_RETRY_BASE_MS: z.coerce.number().int().min(1).max(600000).default(1000).describe('First retry delay, on APNs and Web Push alike; doubled per attempt, with jitter, capped at 60 s (a longer `Retry-After` is honoured up to 60 s).'),
  QUEUE_URL: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'must be a redis:// or rediss:// URL')
    .optional()
    .describe('`redis://…` moves send work onto BullMQ, shared by any number of `npm run worker` processes (use PostgreSQL then). Unset: the embedded in-process queue.'),
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('safari-push-sends').describe('BullMQ queue name; deployments sharing one Redis need different names.'),
  QUEUE_WORKER_IN_API: z.enum(['true', 'false']).default('true').describe('With `QUEUE_URL`: whether the API process works on batches too, or leaves them to `npm run worker`.'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1).describe('With `QUEUE_URL`: batches one process sends at once (each keeps its own window of APNs streams).'),
  QUEUE_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000).describe('With `QUEUE_URL`: after this long without a heartbeat, a dead worker\'s batch goes to another worker.'),
  SEND_PAGE_SIZE: z.coerce.number().int().min(10).max(100_000).default(1000).describe('Devices per page (and per BullMQ batch) when planning a send.'),
  PACKAGE_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(5000).describe('Signed packages of identified users kept in memory (about 6 KB each); 0 turns the cache off.'),
  PACKAGE_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400 * 30).default(3600).describe('How long a cached package is served again to the same user.'),
  VAPID_PUBLIC_KEY: z.string().regex(/^[A-Za-z0-9_-]{87}$/, 'must be the base64url uncompressed P-256 public key (87 characters)').optional().describe('Web Push: the VAPID public key pages subscribe with. With `VAPID_PRIVATE_KEY` and `VAPID_SUBJECT`; unset, a development pair is generated into `DATA_DIR`.'),
  VAPID_PRIVATE_KEY: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the base64url P-256 private key (43 characters)').optional().describe('Web Push: the VAPID private key (secret).'),
  VAPID_SUBJECT: z.string().regex(/^(mailto:.+|https:\/\/.+)$/, 'must be a mailto: or https: URL').optional().describe('Web Push: how push services reach the operator, `mailto:` or `https:` (RFC 8292).'),
  WEBPUSH_ENDPOINT_HOSTS: z
    .string()
    .default('fcm.googleapis.com,.push.services.mozilla.com,.push.apple.com,.notify.windows.com')
    .transform((value) => value.split(',').map((item) => item.trim().toLowerCase()).filter((item) => item.length > 0))
    .describe('Web Push: hosts a subscription endpoint may point at: `host`, `.suffix` (every subdomain), each optionally `:port` or `:*` (otherwise port 443 only). The service POSTs to endpoints, so anything else is refused when subscribing and again before every send.'),
  WEBPUSH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(100).describe('Web Push: messages being encrypted or in flight to push services at once, over all push services.'),
  WEBPUSH_THREADS: z.coerce.number().int().min(0).max(16).default(2).describe('Web Push: worker threads that encrypt messages (RFC 8291), batched; the P-256 key agreement of each message is the costliest step of a send. 0 encrypts on the event loop.'),
  WEBPUSH_CONNECTIONS_PER_ORIGIN: z.coerce.number().int().min(1).max(16).default(2).describe('Web Push: HTTP/2 connections opened to one push service at most (push services that do not offer HTTP/2 get a keep-alive HTTP/1.1 pool of up to `WEBPUSH_CONCURRENCY` sockets).'),
  WEBPUSH_STREAMS_PER_CONNECTION: z.coerce.number().int().min(1).max(1000).default(100).describe('Web Push: requests in flight on one HTTP/2 connection at most (fewer when the push service\'s SETTINGS say so).'),
  WEBPUSH_TTL_SECONDS: z.coerce.number().int().min(0).max(2_419_200).default(2_419_200).describe('Web Push: how long push services keep a notification without `expiration` (default and maximum 28 days).'),
  CLICK_TRACKING: z.enum(['true', 'false']).default('false').describe('`true` sends clicks through this service (`/click/…`), which counts them and redirects to the site\'s URL; Safari\'s package then points `urlFormatString` here.'),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(120).describe('Requests per minute per client address to each public endpoint (pushPackages, registrations, log, subscriptions, sdk/events, click); 0 turns limiting off.'),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d+|[0-9a-fA-F.:/,\sa-z]+)$/, 'must be true, false, a hop count, or a comma list of addresses/CIDRs/loopback/linklocal/uniquelocal')
    .default('false')
    .describe('Express `trust proxy`: which proxies may set X-Forwarded-For. The client address (rate limits, logs) comes from it. `false` when clients connect directly.'),
  METRICS_AUTH: z.enum(['none', 'api-key']).default('none').describe('`api-key` puts `/metrics` behind the API keys (Prometheus `authorization` credentials); `none` leaves it open for a private network.'),
  LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30).describe('Safari\'s error reports (`/v{n}/log`, which anyone may post to) older than this are deleted, hourly.'),
  SCHEDULER_LEASE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(600_000)
    .default(60_000)
    .describe('How long a process may take to plan a campaign occurrence or fire one of its sends before another process takes it over (a process killed mid-way leaves it for this long).'),
  FREQUENCY_CAPS: z
    .string()
    .optional()
    .transform((value) => (value && value.trim().length > 0 ? value.replace(/\s+/g, '') : undefined))
    .refine((value) => value === undefined || /^\d{1,4}\/\d{1,3}[smhd](,\d{1,4}\/\d{1,3}[smhd]){0,9}$/.test(value), 'must be COUNT/DURATION pairs such as 3/1d,10/7d')
    .refine((value) => value === undefined || value.split(',').every((pair) => Number(pair.split('/')[0]) >= 1 && Number.parseInt(pair.split('/')[1] ?? '0', 10) >= 1), 'each count and each duration must be at least 1')
    .describe('At most COUNT notifications per user in any DURATION (rolling windows, across campaigns), such as `3/1d,10/7d`. Campaigns respect them unless `rules.frequencyCaps` is `"ignore"`; send API calls opt in with `"respectCaps": true`. Capped devices record the outcome `skipped` (reason `frequency_cap`). Unset: no caps.'),
  QUIET_HOURS: z
    .string()
    .optional()
    .transform((value) => (value && value.trim().length > 0 ? value.trim() : undefined))
    .refine((value) => value === undefined || /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/.test(value), 'must be HH:MM-HH:MM, such as 21:00-09:00')
    .refine((value) => value === undefined || value.slice(0, 5) !== value.slice(6), 'must be a window: its start and end differ')
    .describe('A nightly window, such as `21:00-09:00`, in each user\'s own time zone, when campaigns send nothing (a campaign\'s `rules.quietHours` overrides it, `"off"` turns it off). Unset: none.'),
  QUIET_HOURS_POLICY: z
    .enum(['delay', 'discard'])
    .default('delay')
    .describe('What QUIET_HOURS does to a device whose time falls in the window: `delay` sends when the window ends, `discard` records the outcome `skipped` (reason `quiet_hours`).'),
  SCHEDULER_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(1000)
    .describe('How often each process looks for campaign occurrences that came due (every API process and worker does; the database makes sure each fires once). 0 turns the campaign scheduler off in this process.'),
  EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90).describe('User events (`POST /api/v1/events`, `SafariPush.track`) older than this are deleted, hourly; segments see no further back.'),
  CLIENT_IP: z
    .enum(['full', 'truncated', 'none'])
    .default('truncated')
    .describe('How client addresses are kept in Safari\'s error reports and in events from pages: `truncated` zeroes the last octet of IPv4 and the last 80 bits of IPv6, `none` keeps nothing.'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(25_000).describe('On SIGTERM/SIGINT, how long in-flight requests and sends get before the process exits anyway.'),
  LOG_LEVEL: z.enum(logLevels).default('info').describe('pino log level.'),
});

/** The raw, validated environment. */
export type ConfigInput = z.infer<typeof configSchema>;
