import type { RequestHandler } from 'express';
import client from 'prom-client';

/** Numbers the queue can report at scrape time. */
export interface QueueStats {
  /** Notifications waiting for a sender slot. */
  waiting: number;
  /** Notifications being sent now. */
  running: number;
  /** APNs requests in flight. */
  inFlight: number;
}

/** The service's Prometheus metrics, in a registry of its own (one per app, so tests do not share). */
export interface Metrics {
  registry: client.Registry;
  /** Times every request, labelled by route pattern (never the raw path: tokens stay out). */
  httpMiddleware: RequestHandler;
  packageServed(version: number): void;
  registration(action: 'register' | 'unregister'): void;
  subscription(action: 'subscribe' | 'unsubscribe'): void;
  click(channel: 'safari' | 'webpush'): void;
  safariLogMessages(count: number): void;
  apnsResponse(status: number | null, reason: string | null): void;
  webPushResponse(status: number | null): void;
  delivery(outcome: 'sent' | 'failed' | 'removed' | 'skipped' | 'held_out', count?: number): void;
  observeQueue(stats: () => Promise<QueueStats>): void;
}

export function createMetrics(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const packages = new client.Counter({ name: 'push_packages_served_total', help: 'Signed push packages served', labelNames: ['version'], registers: [registry] });
  const subscriptions = new client.Counter({ name: 'webpush_subscriptions_total', help: 'Web Push subscriptions stored and removed', labelNames: ['action'], registers: [registry] });
  const clicks = new client.Counter({ name: 'notification_clicks_total', help: 'Notification clicks counted, by channel', labelNames: ['channel'], registers: [registry] });
  const registrations = new client.Counter({ name: 'safari_registrations_total', help: 'Device registrations and unregistrations', labelNames: ['action'], registers: [registry] });
  // Bound once: a labelled inc() hashes its labels on every call, and these run per request.
  const subscriptionCounters = { subscribe: subscriptions.labels({ action: 'subscribe' }), unsubscribe: subscriptions.labels({ action: 'unsubscribe' }) };
  const registrationCounters = { register: registrations.labels({ action: 'register' }), unregister: registrations.labels({ action: 'unregister' }) };
  const logMessages = new client.Counter({ name: 'safari_log_messages_total', help: 'Error messages Safari reported to /log', registers: [registry] });
  // A send reports every answer; prom-client hashes the labels on each inc(). Answers are tallied
  // here (a 200 is one addition) and handed to the counter when it is read.
  const apnsTallies = new Map<string, { labels: [string, string]; count: number }>();
  let apnsOk = 0;
  new client.Counter({
    name: 'apns_responses_total',
    help: 'APNs answers by HTTP status (none = no answer: connection error or timeout) and reason',
    labelNames: ['status', 'reason'],
    registers: [registry],
    collect() {
      if (apnsOk > 0) this.inc({ status: '200', reason: '' }, apnsOk);
      apnsOk = 0;
      for (const tally of apnsTallies.values()) {
        if (tally.count > 0) this.inc({ status: tally.labels[0], reason: tally.labels[1] }, tally.count);
        tally.count = 0;
      }
    },
  });
  const webPushResponses = new client.Counter({
    name: 'webpush_responses_total',
    help: 'Push service answers by HTTP status (none = no answer: connection error or timeout)',
    labelNames: ['status'],
    registers: [registry],
  });
  const deliveries = new client.Counter({ name: 'deliveries_total', help: 'Final delivery outcomes', labelNames: ['outcome'], registers: [registry] });
  let queueStats: () => Promise<QueueStats> = async () => ({ waiting: 0, running: 0, inFlight: 0 });
  new client.Gauge({
    name: 'send_queue_depth',
    help: 'Notifications waiting for a sender and being sent',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const stats = await queueStats();
      this.set({ state: 'waiting' }, stats.waiting);
      this.set({ state: 'running' }, stats.running);
    },
  });
  new client.Gauge({
    name: 'apns_requests_in_flight',
    help: 'APNs requests sent and not yet answered',
    registers: [registry],
    async collect() {
      this.set((await queueStats()).inFlight);
    },
  });

  return {
    registry,
    httpMiddleware(req, res, next) {
      const end = httpDuration.startTimer();
      res.on('finish', () => {
        const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        end({ method: req.method, route, status_code: String(res.statusCode) });
      });
      next();
    },
    packageServed: (version) => packages.inc({ version: `v${version}` }),
    registration: (action) => registrationCounters[action].inc(),
    subscription: (action) => subscriptionCounters[action].inc(),
    click: (channel) => clicks.inc({ channel }),
    safariLogMessages: (count) => logMessages.inc(count),
    apnsResponse(status, reason) {
      if (status === 200) {
        apnsOk++;
        return;
      }
      // Without an answer the reason is a free-text error: label it by kind only, to bound cardinality.
      const labels: [string, string] = status === null ? ['none', 'no_answer'] : [String(status), (reason ?? '').slice(0, 64)];
      const key = `${labels[0]}\n${labels[1]}`;
      const tally = apnsTallies.get(key);
      if (tally) tally.count++;
      else apnsTallies.set(key, { labels, count: 1 });
    },
    webPushResponse: (status) => webPushResponses.inc({ status: status === null ? 'none' : String(status) }),
    delivery: (outcome, count = 1) => deliveries.inc({ outcome }, count),
    observeQueue(stats) {
      queueStats = stats;
    },
  };
}
