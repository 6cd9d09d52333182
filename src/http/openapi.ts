/**
 * The OpenAPI 3.1 description of every route. A test walks the app's router and fails when a
 * route is missing here or described here without existing.
 */
const error = { $ref: '#/components/schemas/Error' };
const json = (schema: object) => ({ 'application/json': { schema } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), { description: ERROR_TEXT[status] ?? 'Error', content: json(error) }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'The request is malformed; the message says what is wrong',
  401: 'Missing or invalid credentials',
  403: 'A user id without a valid signature (USER_INFO_SECRET)',
  404: 'Unknown websitePushID, route or resource',
  409: 'A request with the same Idempotency-Key is still under way',
  415: 'The body is not sent as Content-Type: application/json',
  413: 'Body too large',
  422: 'The Idempotency-Key was used with a different request',
  429: 'Rate limited',
};
const pathParam = (name: string, description: string, pattern?: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', ...(pattern ? { pattern } : {}) },
});
const version = pathParam('version', 'Push web service API version, v1 or v2 (any v<digits>)', '^v\\d+$');
const pushId = pathParam('websitePushID', 'The website push ID');
const paging = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'cursor', in: 'query', description: 'nextCursor of the previous page', schema: { type: 'string' } },
];
const page = (item: string) => ({
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: { $ref: `#/components/schemas/${item}` } }, nextCursor: { type: ['string', 'null'] } },
});
const bearer = [{ apiKey: [] }];
const clickRef = pathParam('ref', 'Signed click reference');
const USER = pathParam('userId', "The site's user id");
const SEGMENT = pathParam('id', 'Segment id');
const CAMPAIGN = pathParam('id', 'Campaign id');
const IDEMPOTENCY = {
  name: 'Idempotency-Key',
  in: 'header',
  schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
  description: 'Same key and same request within 24 hours: the first answer again, nothing done twice.',
};

export function openApiDocument(websitePushID: string): object {
  return {
    openapi: '3.1.0',
    info: { title: 'safari-push', version: '0.1.0', description: `Safari push web service and send API for ${websitePushID}` },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'One of API_KEYS' },
        safari: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'ApplePushNotifications <authenticationToken>' },
      },
      schemas: {
        Filter: {
          type: 'object',
          description: 'The segment filter language (docs/audience.md): all, any, not, attribute, device or event',
        },
        Profile: {
          type: 'object',
          properties: {
            userId: { type: 'string' },
            attributes: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'array'] } },
            timezone: { type: ['string', 'null'] },
            language: { type: ['string', 'null'] },
            test: { type: 'boolean' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            lastSeenAt: { type: ['string', 'null'], format: 'date-time' },
            devices: { type: 'array', items: { type: 'object' } },
          },
        },
        ProfileChange: {
          type: 'object',
          properties: {
            attributes: { type: 'object', maxProperties: 100, description: 'Names [A-Za-z0-9_]{1,64}; values string, number, boolean, ISO 8601 date or list of strings (PATCH: null removes)' },
            timezone: { type: ['string', 'null'], description: 'IANA time zone name' },
            language: { type: ['string', 'null'], description: 'BCP 47 language tag' },
            test: { type: 'boolean', description: 'A test profile (test sends)' },
          },
        },
        Campaign: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            labels: { type: 'array', items: { type: 'string' } },
            status: { enum: ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'] },
            message: { type: 'object', description: 'The send API\'s fields without `to`' },
            audience: { type: 'object', description: '{all: true}, {segment}, {filter} or {users}' },
            schedule: { type: 'object', description: 'now, at, dates, recurring, event or date-attribute (docs/campaigns.md)' },
            rules: { type: 'object', properties: { cutoff: { type: 'string' }, quietHours: { description: '"off" or {from, to, policy}' }, frequencyCaps: { enum: ['respect', 'ignore'] }, throttlePerMinute: { type: 'integer' } } },
            goal: { $ref: '#/components/schemas/Goal' },
            controlGroupPercent: { type: 'number', minimum: 0, maximum: 50, description: 'Held out, deterministically by a hash of campaign and user (docs/results.md)' },
            variants: { type: 'array', minItems: 2, maxItems: 5, items: { type: 'object', required: ['name', 'weight'], properties: { name: { type: 'string' }, weight: { type: 'integer', minimum: 1, maximum: 100 }, message: { type: 'object', description: 'Message fields that replace the campaign\'s' } } } },
            winner: { type: 'object', properties: { metric: { enum: ['clicks', 'conversions'] }, after: { type: 'string', description: 'A duration such as "4h"' }, testPercent: { type: 'integer', minimum: 1, maximum: 99 } } },
            nextOccurrence: { type: ['string', 'null'] },
            launchedAt: { type: ['string', 'null'] },
            createdAt: { type: 'string' },
            updatedAt: { type: 'string' },
          },
        },
        Occurrence: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            dueAt: { type: 'string' },
            status: { enum: ['pending', 'firing', 'fired', 'missed', 'empty', 'failed', 'cancelled'] },
            reason: { type: ['string', 'null'] },
            firedAt: { type: ['string', 'null'] },
            counts: { type: 'object', description: 'The sum over its sends: targeted, sent, failed, removed, skipped, pending, clicked' },
            sends: { type: 'array', description: 'One per group of zones (local time, quiet hours), else one: {dueAt, kind, skipReason?, zones, otherZones?, status, reason, notification}' },
            notification: { type: ['object', 'null'], description: '{id, status, counts} when the occurrence is one send to everyone' },
          },
        },
        Goal: {
          type: 'object',
          required: ['event', 'within'],
          description: 'A conversion: the event within the window after a delivery was sent (or clicked)',
          properties: { event: { type: 'string' }, where: { type: 'array', items: { type: 'object' } }, within: { type: 'string', description: 'At most 30d' }, revenueProperty: { type: 'string' }, after: { enum: ['sent', 'click'] } },
        },
        Totals: {
          type: 'object',
          properties: Object.fromEntries(
            ['targeted', 'sent', 'failed', 'removed', 'skipped', 'heldOut', 'shown', 'clicked', 'converted', 'revenue', 'users', 'clickRate', 'conversionRate'].map((name) => [name, { type: ['number', 'null'] }]),
          ),
        },
        Report: {
          type: 'object',
          properties: {
            totals: { $ref: '#/components/schemas/Totals' },
            control: { type: ['object', 'null'], properties: { users: { type: 'integer' }, converted: { type: 'integer' }, conversionRate: { type: ['number', 'null'] }, revenue: { type: 'number' } } },
            lift: { type: ['object', 'null'], properties: { absolute: { type: 'number' }, relative: { type: ['number', 'null'] }, z: { type: ['number', 'null'] }, pValue: { type: ['number', 'null'] }, confidence95: { type: ['array', 'null'] }, treated: { type: 'object' }, control: { type: 'object' } } },
            variants: { type: 'array', items: { $ref: '#/components/schemas/Totals' } },
            byChannel: { type: 'object', properties: { safari: { $ref: '#/components/schemas/Totals' }, webpush: { $ref: '#/components/schemas/Totals' } } },
            series: { type: 'array', items: { type: 'object', properties: { at: { type: 'string' }, sent: { type: 'integer' }, shown: { type: 'integer' }, clicked: { type: 'integer' }, converted: { type: 'integer' }, revenue: { type: 'number' } } } },
            failures: { type: 'array', items: { type: 'object', properties: { outcome: { enum: ['failed', 'removed'] }, reason: { type: ['string', 'null'] }, count: { type: 'integer' } } } },
            notes: { type: 'array', items: { type: 'string' } },
          },
        },
        Segment: {
          type: 'object',
          properties: { id: { type: 'string' }, name: { type: 'string' }, filter: { $ref: '#/components/schemas/Filter' }, createdAt: { type: 'string' }, updatedAt: { type: 'string' } },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
        Device: {
          type: 'object',
          properties: {
            token: { type: 'string' },
            channel: { enum: ['safari', 'webpush'] },
            endpoint: { type: 'string', description: 'Web Push only: the subscription endpoint (token is its SHA-256)' },
            websitePushId: { type: 'string' },
            userId: { type: ['string', 'null'] },
            createdAt: { type: 'string', format: 'date-time' },
            registeredAt: { type: 'string', format: 'date-time' },
          },
        },
        SafariLog: {
          type: 'object',
          properties: {
            id: { type: 'integer' },
            message: { type: 'string' },
            clientIp: { type: ['string', 'null'] },
            userAgent: { type: ['string', 'null'] },
            createdAt: { type: 'string', format: 'date-time' },
          },
        },
        NewNotification: {
          type: 'object',
          required: ['title', 'body', 'to'],
          additionalProperties: false,
          properties: {
            title: { type: 'string', minLength: 1 },
            body: { type: 'string', minLength: 1 },
            action: { type: 'string', description: 'Button label' },
            urlArgs: { type: 'array', items: { type: 'string' }, description: 'Exactly as many as %@ in urlFormatString' },
            to: {
              oneOf: [
                { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' }, minItems: 1, maxItems: 10000 } } },
                { type: 'object', required: ['users'], properties: { users: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 10000 } } },
                { type: 'object', required: ['all'], properties: { all: { const: true } } },
                { type: 'object', required: ['segment'], properties: { segment: { type: 'string', format: 'uuid', description: 'A saved segment; its filter is copied when the send is created' } } },
                { type: 'object', required: ['filter'], properties: { filter: { $ref: '#/components/schemas/Filter' } } },
              ],
            },
            expiration: { type: 'integer', minimum: 0, description: 'Unix seconds; 0 = deliver once or drop' },
            priority: { enum: [5, 10], default: 10 },
            collapseId: { type: 'string', description: 'At most 64 bytes; Web Push Topic (hashed to 32 characters when longer) and tag' },
            channels: { type: 'array', items: { enum: ['safari', 'webpush'] }, minItems: 1, description: 'Restricts the target to these channels (default: all)' },
            icon: { type: 'string', format: 'uri', description: 'Web Push icon (https); default: the package icon at /icon.png' },
            goal: { $ref: '#/components/schemas/Goal' },
          },
        },
        Notification: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            status: { enum: ['queued', 'sending', 'completed', 'failed'] },
            title: { type: 'string' },
            body: { type: 'string' },
            to: { type: 'object' },
            counts: {
              type: 'object',
              properties: {
                targeted: { type: 'integer' },
                sent: { type: 'integer' },
                failed: { type: 'integer' },
                removed: { type: 'integer' },
                skipped: { type: 'integer' },
                heldOut: { type: 'integer', description: 'A control group\'s devices' },
                pending: { type: 'integer' },
                shown: { type: 'integer', description: 'Web Push only, with click tracking' },
                clicked: { type: 'integer' },
                converted: { type: 'integer', description: 'With a goal: users who converted' },
                revenue: { type: 'number', description: 'With a goal that names a revenueProperty' },
              },
            },
            error: { type: ['string', 'null'] },
            createdAt: { type: 'string', format: 'date-time' },
            startedAt: { type: ['string', 'null'], format: 'date-time' },
            finishedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Delivery: {
          type: 'object',
          properties: {
            token: { type: 'string' },
            channel: { enum: ['safari', 'webpush'] },
            outcome: { enum: ['pending', 'sent', 'failed', 'removed', 'skipped', 'held_out'] },
            status: { type: ['integer', 'null'] },
            reason: { type: ['string', 'null'] },
            attempts: { type: 'integer' },
            updatedAt: { type: 'string', format: 'date-time' },
            clickedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Subscription: {
          type: 'object',
          required: ['subscription'],
          properties: {
            subscription: {
              type: 'object',
              required: ['endpoint', 'keys'],
              description: 'PushSubscription.toJSON()',
              properties: {
                endpoint: { type: 'string', format: 'uri' },
                keys: { type: 'object', required: ['p256dh', 'auth'], properties: { p256dh: { type: 'string' }, auth: { type: 'string' } } },
              },
            },
            userId: { type: ['string', 'null'] },
            signature: { type: 'string', description: 'hex HMAC-SHA256(USER_INFO_SECRET, userId)' },
            userToken: { type: 'string', description: 'HS256 JWT with sub = user id' },
          },
        },
      },
    },
    paths: {
      '/{version}/pushPackages/{websitePushID}': {
        post: {
          summary: 'A freshly signed push package for this visitor',
          tags: ['Safari'],
          parameters: [version, pushId],
          requestBody: {
            content: json({
              type: 'object',
              description: 'userInfo from requestPermission',
              properties: { userId: { type: ['string', 'integer'] }, signature: { type: 'string' }, userToken: { type: 'string' } },
            }),
          },
          responses: { 200: { description: 'The push package', content: { 'application/zip': { schema: { type: 'string', contentMediaType: 'application/zip' } } } }, ...errors(400, 403, 404, 413, 429) },
        },
      },
      '/{version}/devices/{deviceToken}/registrations/{websitePushID}': {
        post: {
          summary: 'Register a device (idempotent)',
          tags: ['Safari'],
          security: [{ safari: [] }],
          parameters: [version, pathParam('deviceToken', '64 hex characters', '^[0-9a-fA-F]{64}$'), pushId],
          responses: { 200: { description: 'Stored' }, 403: { description: 'The device is registered with another authenticationToken (another user, or another anonymous package)', content: json(error) }, ...errors(400, 401, 404, 429) },
        },
        delete: {
          summary: 'Forget a device',
          tags: ['Safari'],
          security: [{ safari: [] }],
          parameters: [version, pathParam('deviceToken', '64 hex characters', '^[0-9a-fA-F]{64}$'), pushId],
          responses: { 200: { description: 'Forgotten' }, 403: { description: 'The device was registered with another authenticationToken', content: json(error) }, ...errors(400, 401, 404, 429) },
        },
      },
      '/{version}/log': {
        post: {
          summary: "Safari's error reports",
          tags: ['Safari'],
          parameters: [version],
          requestBody: {
            required: true,
            content: json({ type: 'object', required: ['logs'], properties: { logs: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', maxLength: 4096 } } } }),
          },
          responses: { 200: { description: 'Kept' }, ...errors(400, 413, 429) },
        },
      },
      '/healthz': { get: { summary: 'Liveness', tags: ['Operations'], responses: { 200: { description: 'Alive' } } } },
      '/readyz': {
        get: { summary: 'Readiness: database reachable, not shutting down', tags: ['Operations'], responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } } },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', tags: ['Operations'], responses: { 200: { description: 'Text exposition format' } } } },
      '/openapi.json': { get: { summary: 'This document', tags: ['Operations'], responses: { 200: { description: 'OpenAPI 3.1' } } } },
      '/sdk.js': { get: { summary: 'Browser SDK: soft prompt, Web Push or legacy Safari subscription', tags: ['Browser'], responses: { 200: { description: 'JavaScript' } } } },
      '/sw.js': { get: { summary: 'Service worker code for importScripts() in the site\'s worker', tags: ['Browser'], responses: { 200: { description: 'JavaScript' } } } },
      '/icon.png': { get: { summary: 'The package icon, default Web Push icon', tags: ['Browser'], responses: { 200: { description: 'PNG' } } } },
      '/click/{ref}': {
        get: { summary: 'Safari click: counted, then redirected to the site', tags: ['Browser'], parameters: [clickRef], responses: { 302: { description: 'To the site\'s URL' }, ...errors(400) } },
        post: { summary: 'Web Push click reported by the service worker', tags: ['Browser'], parameters: [clickRef], responses: { 204: { description: 'Counted' }, ...errors(400) } },
      },
      '/shown/{ref}': {
        post: { summary: 'Web Push notification shown, reported by the service worker (once per delivery)', tags: ['Browser'], parameters: [{ ...clickRef, description: 'The signed shown reference from the push message' }], responses: { 204: { description: 'Counted (or counted before)' }, ...errors(400, 429) } },
      },
      '/api/v1/webpush/public-key': {
        options: { summary: 'CORS preflight', tags: ['Browser'], responses: { 204: { description: 'Allowed origin' }, ...errors(403) } },
        get: { summary: 'The VAPID public key (applicationServerKey)', tags: ['Browser'], responses: { 200: { description: 'The key', content: json({ type: 'object', properties: { publicKey: { type: 'string' } } }) }, ...errors(403) } },
      },
      '/api/v1/subscriptions': {
        options: { summary: 'CORS preflight (ALLOWED_DOMAINS)', tags: ['Browser'], responses: { 204: { description: 'Allowed origin' }, ...errors(403) } },
        post: {
          summary: 'Store a Web Push subscription (called by the page)',
          tags: ['Browser'],
          requestBody: { required: true, content: json({ $ref: '#/components/schemas/Subscription' }) },
          responses: { 201: { description: 'Stored' }, ...errors(400, 403, 413, 429) },
        },
        delete: {
          summary: 'Remove a Web Push subscription',
          tags: ['Browser'],
          requestBody: { required: true, content: json({ type: 'object', required: ['endpoint'], properties: { endpoint: { type: 'string' } } }) },
          responses: { 204: { description: 'Removed' }, ...errors(400, 403, 404, 429) },
        },
      },
      '/api/v1/sdk/events': {
        options: { summary: 'CORS preflight (ALLOWED_DOMAINS)', tags: ['Browser'], responses: { 204: { description: 'Allowed origin' }, ...errors(403) } },
        post: {
          summary: 'What a page reports for its device: events (SafariPush.track), the user (identify), a visit, time zone and language',
          tags: ['Browser'],
          requestBody: { required: true, content: json({ type: 'object', required: ['token'], properties: { token: { type: 'string' }, userId: { type: 'string' }, events: { type: 'array', maxItems: 20 }, visit: { type: 'boolean' }, timezone: { type: 'string' }, language: { type: 'string' } } }) },
          responses: { 202: { description: '{accepted}' }, ...errors(400, 403, 404, 409, 413, 415, 429) },
        },
      },
      '/admin': { get: { summary: 'Admin console (static page; log in with an API key)', tags: ['Admin'], responses: { 200: { description: 'HTML' } } } },
      '/admin/{file}': {
        get: { summary: "The console's script and style", tags: ['Admin'], parameters: [pathParam('file', 'admin.js or admin.css')], responses: { 200: { description: 'Asset' }, 404: { description: 'No such file' } } },
      },
      '/studio': {
        get: { summary: 'The campaign studio (/studio redirects to /studio/); 503 when it was not built', tags: ['Admin'], responses: { 200: { description: 'HTML page' }, 301: { description: 'To /studio/' }, 503: { description: 'Not built' } } },
      },
      '/studio/assets/{file}': {
        get: { summary: "The studio's built script and style (content-hashed names)", tags: ['Admin'], parameters: [pathParam('file', 'A file of the build')], responses: { 200: { description: 'Asset' }, 404: { description: 'No such file' } } },
      },
      '/api/v1/admin/health': {
        get: { summary: 'Certificate expiry, last APNs and Web Push answers, settings (no secrets)', tags: ['Admin'], security: bearer, responses: { 200: { description: 'Health' }, ...errors(401) } },
      },
      '/api/v1/devices/totals': {
        get: {
          summary: 'Devices per channel',
          tags: ['Admin'],
          security: bearer,
          responses: { 200: { description: 'Totals', content: json({ type: 'object', properties: { safari: { type: 'integer' }, webpush: { type: 'integer' }, all: { type: 'integer' } } }) }, ...errors(401) },
        },
      },
      '/api/v1/logs/summary': {
        get: {
          summary: 'Distinct Safari log messages with counts, per UTC day',
          tags: ['Admin'],
          security: bearer,
          parameters: [
            { name: 'days', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 365, default: 30 } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 20 } },
          ],
          responses: { 200: { description: 'Summary' }, ...errors(400, 401) },
        },
      },
      '/api/v1/logs': {
        get: { summary: "Safari's logged errors, newest first", tags: ['Admin'], security: bearer, parameters: [...paging, { name: 'search', in: 'query', description: 'Only messages containing this text', schema: { type: 'string' } }], responses: { 200: { description: 'A page', content: json(page('SafariLog')) }, ...errors(400, 401) } },
      },
      '/api/v1/devices': {
        get: {
          summary: 'Devices, newest registration first',
          tags: ['Admin'],
          security: bearer,
          parameters: [...paging, { name: 'userId', in: 'query', schema: { type: 'string' } }, { name: 'channel', in: 'query', schema: { enum: ['safari', 'webpush'] } }],
          responses: { 200: { description: 'A page', content: json(page('Device')) }, ...errors(400, 401) },
        },
      },
      '/api/v1/devices/{token}': {
        get: {
          summary: 'One device',
          tags: ['Admin'],
          security: bearer,
          parameters: [pathParam('token', '64 hex characters')],
          responses: { 200: { description: 'The device', content: json({ $ref: '#/components/schemas/Device' }) }, ...errors(400, 401, 404) },
        },
        delete: { summary: 'Remove a device', tags: ['Admin'], security: bearer, parameters: [pathParam('token', '64 hex characters')], responses: { 204: { description: 'Removed' }, ...errors(400, 401, 404) } },
      },
      '/api/v1/notifications': {
        post: {
          summary: 'Send a notification',
          tags: ['Send'],
          security: bearer,
          parameters: [
            { name: 'wait', in: 'query', schema: { enum: ['true', 'false'] }, description: 'Answer when the send has finished' },
            {
              name: 'Idempotency-Key',
              in: 'header',
              schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
              description: 'Same key and same request within 24 hours: the first answer again (header Idempotent-Replayed: true), no second send. Same key, other request: 422 idempotency_key_reused; first still under way: 409.',
            },
          ],
          requestBody: { required: true, content: json({ $ref: '#/components/schemas/NewNotification' }) },
          responses: {
            200: { description: 'Finished (wait=true)', content: json({ $ref: '#/components/schemas/Notification' }) },
            202: { description: 'Queued', content: json({ type: 'object', properties: { id: { type: 'string' }, status: { const: 'queued' } } }) },
            ...errors(400, 401, 409, 413, 415, 422),
          },
        },
        get: { summary: 'Notifications, newest first', tags: ['Send'], security: bearer, parameters: paging, responses: { 200: { description: 'A page', content: json(page('Notification')) }, ...errors(400, 401) } },
      },
      '/api/v1/notifications/preview': {
        post: {
          summary: 'What each channel would get for one user (templates rendered)',
          tags: ['Send'],
          security: bearer,
          requestBody: { required: true, content: json({ type: 'object', description: 'A notification as for POST /api/v1/notifications, with userId; to is not needed' }) },
          responses: { 200: { description: 'Per channel: payload and bytes, or error' }, ...errors(400, 401, 413, 415) },
        },
      },
      '/api/v1/users/{userId}': {
        put: { summary: 'Replace a profile', tags: ['Audience'], security: bearer, parameters: [USER], requestBody: { required: true, content: json({ $ref: '#/components/schemas/ProfileChange' }) }, responses: { 200: { description: 'The profile', content: json({ $ref: '#/components/schemas/Profile' }) }, ...errors(400, 401, 413, 415) } },
        patch: { summary: 'Merge into a profile (null removes an attribute)', tags: ['Audience'], security: bearer, parameters: [USER], requestBody: { required: true, content: json({ $ref: '#/components/schemas/ProfileChange' }) }, responses: { 200: { description: 'The profile', content: json({ $ref: '#/components/schemas/Profile' }) }, ...errors(400, 401, 413, 415) } },
        get: { summary: 'A profile with its devices', tags: ['Audience'], security: bearer, parameters: [USER], responses: { 200: { description: 'The profile', content: json({ $ref: '#/components/schemas/Profile' }) }, ...errors(400, 401, 404) } },
        delete: { summary: 'Erase the user: profile, devices, events; deliveries anonymized', tags: ['Audience'], security: bearer, parameters: [USER], responses: { 204: { description: 'Erased (or nothing was held)' }, ...errors(400, 401) } },
      },
      '/api/v1/users/{userId}/events': {
        get: { summary: "A user's events, newest first", tags: ['Audience'], security: bearer, parameters: [USER, ...paging], responses: { 200: { description: 'A page' }, ...errors(400, 401) } },
      },
      '/api/v1/users/{userId}/export': {
        get: { summary: 'Everything held about the user, as one JSON document', tags: ['Audience'], security: bearer, parameters: [USER], responses: { 200: { description: 'The export' }, ...errors(400, 401, 404) } },
      },
      '/api/v1/users/batch': {
        post: { summary: 'Merge up to 1,000 profiles', tags: ['Audience'], security: bearer, parameters: [IDEMPOTENCY], requestBody: { required: true, content: json({ type: 'object', required: ['users'], properties: { users: { type: 'array', maxItems: 1000 } } }) }, responses: { 200: { description: 'Stored' }, ...errors(400, 401, 409, 413, 415, 422) } },
      },
      '/api/v1/events': {
        post: { summary: 'Record up to 1,000 events', tags: ['Audience'], security: bearer, parameters: [IDEMPOTENCY], requestBody: { required: true, content: json({ type: 'object', required: ['events'], properties: { events: { type: 'array', maxItems: 1000 } } }) }, responses: { 202: { description: 'Accepted: {accepted, unknownTokens?}' }, ...errors(400, 401, 409, 413, 415, 422) } },
      },
      '/api/v1/segments': {
        post: { summary: 'Save a segment', tags: ['Audience'], security: bearer, parameters: [IDEMPOTENCY], requestBody: { required: true, content: json({ type: 'object', required: ['name', 'filter'], properties: { name: { type: 'string' }, filter: { $ref: '#/components/schemas/Filter' } } }) }, responses: { 201: { description: 'Saved', content: json({ $ref: '#/components/schemas/Segment' }) }, ...errors(400, 401, 409, 413, 415, 422) } },
        get: { summary: 'Saved segments, newest first', tags: ['Audience'], security: bearer, parameters: paging, responses: { 200: { description: 'A page', content: json(page('Segment')) }, ...errors(400, 401) } },
      },
      '/api/v1/audience/fields': {
        get: {
          summary: 'Attribute names and types (from the newest 1,000 profiles), device facts and event names: for filter and template editors',
          tags: ['Audience'],
          security: bearer,
          responses: { 200: { description: '{attributes: [{name, type}], deviceFacts: [...], events: [...]}' }, ...errors(401) },
        },
      },
      '/api/v1/schedules/preview': {
        post: {
          summary: 'The next occurrences a schedule would have if launched now',
          tags: ['Campaigns'],
          security: bearer,
          requestBody: { required: true, content: json({ type: 'object', required: ['schedule'], properties: { schedule: { type: 'object' }, count: { type: 'integer', minimum: 1, maximum: 10, default: 5 } } }) },
          responses: { 200: { description: '{occurrences: [ISO times], timezone, localTime, triggered}' }, ...errors(400, 401, 413, 415) },
        },
      },
      '/api/v1/segments/estimate': {
        post: { summary: 'Exact reach of a filter or a saved segment', tags: ['Audience'], security: bearer, requestBody: { required: true, content: json({ type: 'object' }) }, responses: { 200: { description: '{users, devices: {safari, webpush, all}}' }, ...errors(400, 401, 404) } },
      },
      '/api/v1/segments/{id}': {
        get: { summary: 'A saved segment', tags: ['Audience'], security: bearer, parameters: [SEGMENT], responses: { 200: { description: 'The segment', content: json({ $ref: '#/components/schemas/Segment' }) }, ...errors(401, 404) } },
        put: { summary: 'Replace name and filter', tags: ['Audience'], security: bearer, parameters: [SEGMENT], requestBody: { required: true, content: json({ type: 'object' }) }, responses: { 200: { description: 'The segment' }, ...errors(400, 401, 404) } },
        delete: { summary: 'Delete a segment', tags: ['Audience'], security: bearer, parameters: [SEGMENT], responses: { 204: { description: 'Deleted' }, ...errors(401, 404) } },
      },
      '/api/v1/campaigns': {
        post: { summary: 'Create a campaign (a draft)', tags: ['Campaigns'], security: bearer, parameters: [IDEMPOTENCY], requestBody: { required: true, content: json({ type: 'object', required: ['name', 'message', 'audience', 'schedule'] }) }, responses: { 201: { description: 'The draft', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(400, 401, 409, 413, 415, 422) } },
        get: {
          summary: 'Campaigns, newest first',
          tags: ['Campaigns'],
          security: bearer,
          parameters: [...paging, { name: 'status', in: 'query', schema: { type: 'string' } }, { name: 'label', in: 'query', schema: { type: 'string' } }],
          responses: { 200: { description: 'A page', content: json(page('Campaign')) }, ...errors(400, 401) },
        },
      },
      '/api/v1/campaigns/{id}': {
        get: { summary: 'A campaign with its next occurrence', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN], responses: { 200: { description: 'The campaign', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(401, 404) } },
        patch: { summary: 'Change a draft or paused campaign', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN], requestBody: { required: true, content: json({ type: 'object' }) }, responses: { 200: { description: 'The campaign', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(400, 401, 404, 409, 413, 415) } },
      },
      '/api/v1/campaigns/{id}/launch': {
        post: { summary: 'Launch a draft: scheduled from now on', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN, IDEMPOTENCY], responses: { 200: { description: 'The campaign', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(400, 401, 404, 409, 422) } },
      },
      '/api/v1/campaigns/{id}/pause': {
        post: { summary: 'Pause a scheduled or running campaign', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN], responses: { 200: { description: 'The campaign', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(401, 404, 409) } },
      },
      '/api/v1/campaigns/{id}/resume': {
        post: { summary: 'Resume a paused campaign', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN], responses: { 200: { description: 'The campaign', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(401, 404, 409) } },
      },
      '/api/v1/campaigns/{id}/cancel': {
        post: { summary: 'Cancel a campaign: no further occurrence fires', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN], responses: { 200: { description: 'The campaign', content: json({ $ref: '#/components/schemas/Campaign' }) }, ...errors(401, 404, 409) } },
      },
      '/api/v1/campaigns/{id}/occurrences': {
        get: { summary: 'Occurrences, latest first, each with its notification and counts', tags: ['Campaigns'], security: bearer, parameters: [CAMPAIGN, ...paging], responses: { 200: { description: 'A page', content: json(page('Occurrence')) }, ...errors(400, 401, 404) } },
      },
      '/api/v1/campaigns/{id}/report': {
        get: {
          summary: 'Shown, clicked, converted and revenue, the control group\'s lift, variants, channels and an hourly series (?format=csv)',
          tags: ['Campaigns'],
          security: bearer,
          parameters: [CAMPAIGN, { name: 'occurrence', in: 'query', schema: { type: 'string' } }, { name: 'format', in: 'query', schema: { enum: ['json', 'csv'] } }],
          responses: { 200: { description: 'The report', content: { ...json({ $ref: '#/components/schemas/Report' }), 'text/csv': { schema: { type: 'string' } } } }, ...errors(400, 401, 404) },
        },
      },
      '/api/v1/campaigns/{id}/test': {
        post: {
          summary: 'Send the message now to the test profiles (or userIds), marked as a test',
          tags: ['Campaigns'],
          security: bearer,
          parameters: [CAMPAIGN, IDEMPOTENCY],
          requestBody: { content: json({ type: 'object', properties: { userIds: { type: 'array', items: { type: 'string' }, maxItems: 100 } } }) },
          responses: { 202: { description: 'Queued: {id, status, test, users}' }, ...errors(400, 401, 404, 409, 413, 415, 422) },
        },
      },
      '/api/v1/notifications/{id}': {
        get: {
          summary: 'Status and counts',
          tags: ['Send'],
          security: bearer,
          parameters: [pathParam('id', 'Notification id')],
          responses: { 200: { description: 'The notification', content: json({ $ref: '#/components/schemas/Notification' }) }, ...errors(401, 404) },
        },
      },
      '/api/v1/notifications/{id}/deliveries': {
        get: {
          summary: 'One record per targeted device',
          tags: ['Send'],
          security: bearer,
          parameters: [pathParam('id', 'Notification id'), ...paging, { name: 'outcome', in: 'query', schema: { enum: ['pending', 'sent', 'failed', 'removed', 'skipped', 'held_out'] } }],
          responses: { 200: { description: 'A page', content: json(page('Delivery')) }, ...errors(400, 401, 404) },
        },
      },
    },
  };
}
