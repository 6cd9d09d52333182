import type { ApnsClient } from '../apns/client';
import type { Clock } from '../clock';
import { actionFor, type Action, type ApnsResult } from '../apns/outcomes';
import type { ClickRefs } from '../clicks/click-ref';
import { buildTargetUrl } from '../clicks/target-url';
import type { Channel, DeviceRepository } from '../devices/repository';
import type { Logger } from '../logger';
import { maskToken } from '../logger';
import type { Metrics } from '../metrics/metrics';
import type { WebPushClient, WebPushMessage } from '../webpush/client';
import type { EndpointPolicy } from '../webpush/endpoint';
import { webPushActionFor, type WebPushResult } from '../webpush/outcomes';
import { buildWebPushPayload, MAX_WEB_PUSH_PAYLOAD_BYTES, topicFor, ttlFor, urgencyFor } from '../webpush/payload';
import { buildSafariPayload, MAX_PAYLOAD_BYTES } from './payload';
import { isPersonalized, personalizer, type PersonalFields } from './personalize';
import type { Delivery, FinalCounts, NotificationRepository, OutcomeRecord, StoredNotification } from './repository';

/** The service's clock when the sender has one (outcome times, planning, frequency-cap windows), else the system's. */
export const nowOf = (deps: Pick<SenderDeps, 'clock'>) => deps.clock?.now() ?? Date.now();

export interface SenderOptions {
  topic: string;
  maxAttempts: number;
  retryBaseMs: number;
  /** Devices planned, read and handed out per page. */
  pageSize: number;
  /** Devices of each channel being worked on at once (sending or waiting to retry). */
  concurrency: Record<Channel, number>;
  /** The site's own urlFormatString: where a click lands. */
  urlFormatString: string;
  /** This service's public URL (webServiceURL): click links and the default Web Push icon live there. */
  serviceUrl: string;
  /** Web Push TTL when the notification has no expiration. */
  webPushTtlSeconds: number;
}

export interface SenderDeps {
  apns: ApnsClient;
  webPush: WebPushClient;
  /** Checked again before every Web Push request: only its targets are ever posted to. */
  endpoints: EndpointPolicy;
  /** Set when CLICK_TRACKING is on: every device gets its own signed click link. */
  clickRefs?: ClickRefs;
  metrics: Pick<Metrics, 'apnsResponse' | 'webPushResponse' | 'delivery'>;
  notifications: NotificationRepository;
  devices: DeviceRepository;
  logger: Logger;
  /** The service's clock: when pages are planned (frequency-cap windows count from it). */
  clock?: Clock;
}

/** One notification being sent by this process: devices go in, outcomes come out, recorded in batches. */
export interface SendRun {
  /** Hands devices to the run; resolves as soon as there is room for more. */
  add(deliveries: Delivery[]): Promise<void>;
  /** Waits until every device handed over has its outcome recorded. */
  drain(): Promise<void>;
  /** True once no more devices should be taken: shutdown. */
  readonly halted: boolean;
}

const MAX_RETRY_DELAY_MS = 60_000;
const FLUSH_EVERY = 500;
const STOP_CHECK_MS = 1000;
/** What a delivery's reason becomes when the database refused the original. */
const POISON_REASON = 'The answer could not be stored as it was (see the service log)';

/** Exponential backoff with jitter: base·2^(attempt-1), scaled by a random factor in [0.5, 1), capped. */
export function retryDelay(attempt: number, baseMs: number): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Starts sending `notification`. Each device gets exactly one recorded outcome, decided by the
 * APNs outcome table; transient failures are retried with backoff. `signal` (shutdown) stops taking
 * devices: what is not finished stays pending for the next run.
 */
export function startSendRun(notification: StoredNotification, deps: SenderDeps, options: SenderOptions, signal: AbortSignal): SendRun {
  const { apns, webPush, notifications, devices, metrics, clickRefs } = deps;
  const log = deps.logger.child({ notificationId: notification.id });
  const now = () => nowOf(deps);
  const safariMessage = (fields: Pick<PersonalFields, 'title' | 'body' | 'action' | 'urlArgs'>) =>
    apns.prepare({
      topic: options.topic,
      payload: buildSafariPayload(fields),
      expiration: notification.expiration,
      priority: notification.priority,
      collapseId: notification.collapseId,
    });
  // Every Safari device gets the same headers (topic, priority, expiry, collapse id), prepared once.
  // Without click tracking or templates it gets the same body too; otherwise its own body, one
  // JSON string sent with those headers.
  const sharedSafariMessage = safariMessage(notification);
  const safariBody = (fields: Pick<PersonalFields, 'title' | 'body' | 'action' | 'urlArgs'>) => JSON.stringify(buildSafariPayload(fields));
  const refFor = (delivery: Delivery, urlArgs = notification.urlArgs) => clickRefs?.sign({ notificationId: notification.id, deliveryId: delivery.id, urlArgs });
  // A click opens the url field's page, else the site's urlFormatString filled with the url-args.
  const targetUrl = notification.webPush?.url ?? buildTargetUrl(options.urlFormatString, notification.urlArgs) ?? options.serviceUrl;
  const webPushBase: Omit<WebPushMessage, 'payload'> = {
    ttl: ttlFor(notification.expiration, Math.floor(now() / 1000), options.webPushTtlSeconds),
    urgency: urgencyFor(notification.priority),
    topic: topicFor(notification.collapseId),
  };
  const links = { targetUrl, serviceUrl: options.serviceUrl };
  const clickTargets = 1 + (notification.webPush?.actions?.length ?? 0);
  // Without click tracking every subscription gets the same payload; with it, its own signed links
  // (one for the notification, one per button), each redirecting to that target's page.
  const sharedWebPushMessage: WebPushMessage | undefined = clickRefs ? undefined : { ...webPushBase, payload: buildWebPushPayload(notification, links) };
  const clickLinks = (delivery: Delivery, page?: string) =>
    Array.from(
      { length: clickTargets },
      (_, target) => `${options.serviceUrl}/click/${clickRefs?.sign({ notificationId: notification.id, deliveryId: delivery.id, urlArgs: [], target, ...(target === 0 && page !== undefined ? { url: page } : {}) })}`,
    );
  const shownLink = (delivery: Delivery) => (clickRefs ? `${options.serviceUrl}/shown/${clickRefs.signShown({ notificationId: notification.id, deliveryId: delivery.id })}` : undefined);
  const webPushMessage = (delivery: Delivery): WebPushMessage =>
    sharedWebPushMessage ?? { ...webPushBase, payload: buildWebPushPayload(notification, { ...links, clicks: clickLinks(delivery), shown: shownLink(delivery) }) };

  // Personalized sends render their templates per device (parsed once, here) and check each
  // payload's size: a device whose payload cannot be built fails alone, with the reason.
  type Built<T> = { ok: true; message: T } | { ok: false; reason: string };
  const personal = isPersonalized(notification)
    ? personalizer({ title: notification.title, body: notification.body, action: notification.action, url: notification.webPush?.url, urlArgs: notification.urlArgs }, notification.templateData)
    : undefined;
  /** A Safari device's own body (sent with sharedSafariMessage's headers), or undefined for the shared one. */
  const safariBodyFor = (delivery: Delivery): Built<string | undefined> => {
    if (!personal) return { ok: true, message: clickRefs ? safariBody({ ...notification, urlArgs: [refFor(delivery) as string] }) : undefined };
    const rendered = personal.render(delivery.recipient);
    if (!rendered.ok) return rendered;
    const body = safariBody({ ...rendered.fields, urlArgs: clickRefs ? [refFor(delivery, rendered.fields.urlArgs) as string] : rendered.fields.urlArgs });
    const size = Buffer.byteLength(body);
    if (size > MAX_PAYLOAD_BYTES) return { ok: false, reason: `PayloadTooLarge: the personalized payload is ${size} bytes, APNs accepts at most ${MAX_PAYLOAD_BYTES}` };
    return { ok: true, message: body };
  };
  const webPushFor = (delivery: Delivery): Built<WebPushMessage> => {
    if (!personal) return { ok: true, message: webPushMessage(delivery) };
    const rendered = personal.render(delivery.recipient);
    if (!rendered.ok) return rendered;
    const { title, body, url, urlArgs } = rendered.fields;
    if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) return { ok: false, reason: `TemplateError: url renders to ${JSON.stringify(url.slice(0, 100))}, not an http(s) URL` };
    const page = url ?? buildTargetUrl(options.urlFormatString, urlArgs) ?? options.serviceUrl;
    const payload = buildWebPushPayload({ ...notification, title, body }, { targetUrl: page, serviceUrl: options.serviceUrl, clicks: clickRefs ? clickLinks(delivery, page) : undefined, shown: shownLink(delivery) });
    const size = Buffer.byteLength(payload);
    if (size > MAX_WEB_PUSH_PAYLOAD_BYTES) return { ok: false, reason: `PayloadTooLarge: the personalized payload is ${size} bytes, push services accept at most ${MAX_WEB_PUSH_PAYLOAD_BYTES}` };
    return { ok: true, message: { ...webPushBase, payload } };
  };
  /** A payload that could not be built: failed as never sent (no attempt made). */
  const notBuilt = (reason: string) => ({ result: { ok: false as const, status: null, reason, unbuilt: true }, action: 'fail' as const });

  const apnsAnswered = (result: ApnsResult): ApnsResult => {
    metrics.apnsResponse(result.ok ? 200 : result.status, result.ok ? null : result.reason);
    return result;
  };
  /** One attempt on the delivery's channel, and what its answer means. */
  const attempt = async (delivery: Delivery): Promise<{ result: ApnsResult | WebPushResult; action: Action }> => {
    if (delivery.channel === 'webpush') {
      if (!delivery.subscription) return { result: { ok: false, status: null, reason: 'Unsubscribed: the subscription was removed before it was sent' }, action: 'fail' };
      // The stored endpoint is checked again (the host list may have changed since it was stored).
      const checked = deps.endpoints.check(delivery.subscription.endpoint);
      if (!checked.ok) return { result: { ok: false, status: null, reason: `EndpointNotAllowed: ${checked.reason}` }, action: 'fail' };
      const built = webPushFor(delivery);
      if (!built.ok) return notBuilt(built.reason);
      const result = await webPush.send(checked.target, delivery.subscription.keys, built.message);
      metrics.webPushResponse(result.ok ? 201 : result.status);
      return { result, action: webPushActionFor(result) };
    }
    const built = safariBodyFor(delivery);
    if (!built.ok) return notBuilt(built.reason);
    const result = apnsAnswered(await apns.send(delivery.token, sharedSafariMessage, built.message));
    return { result, action: actionFor(result) };
  };
  // APNs refused our credentials (here or, seen through the database, on another worker): Safari
  // devices are failed as not sent from then on; Web Push goes on.
  let stopped: string | undefined;
  let lastStopCheck = 0;
  // Devices in progress, and the one waiter (add or drain) to wake when one finishes. A counter, not
  // Promise.race over the in-flight set: racing N promises per device costs O(N) reactions each time.
  let active = 0;
  const activeIn: Record<Channel, number> = { safari: 0, webpush: 0 };
  let wake: (() => void) | undefined;
  const slotFreed = () => new Promise<void>((resolve) => (wake = resolve));
  /** A place of `channel` is free again: wakes the one waiter. */
  const freePlace = (channel: Channel) => {
    activeIn[channel]--;
    const waiter = wake;
    wake = undefined;
    waiter?.();
  };
  const settle = (channel: Channel) => {
    active--;
    freePlace(channel);
  };
  // Deliveries waiting out a retry delay give their place back, so that one push service that is
  // slow or paused does not hold up the others' deliveries; at most 4 windows' worth rest this way
  // (the rest keep their place while they wait). A rested delivery takes its place back when it
  // is due, over the limit if need be: the client's own window still bounds the requests.
  const resting: Record<Channel, number> = { safari: 0, webpush: 0 };
  const rest = async (channel: Channel, ms: number) => {
    if (resting[channel] >= 4 * options.concurrency[channel]) return sleep(ms, signal);
    resting[channel]++;
    freePlace(channel);
    try {
      await sleep(ms, signal);
    } finally {
      resting[channel]--;
      activeIn[channel]++;
    }
  };
  const buffer: OutcomeRecord[] = [];
  let flushing: Promise<void> = Promise.resolve();
  let writeError: unknown;

  const written = (added: FinalCounts) => {
    for (const outcome of ['sent', 'failed', 'removed', 'skipped'] as const) if (added[outcome] > 0) metrics.delivery(outcome, added[outcome]);
  };
  /**
   * One record the batch could not write: alone, then with a plain reason in place of what APNs
   * or the push service said. Only a record that fails even then (the database is away) goes back.
   */
  const writeAlone = async (one: OutcomeRecord): Promise<unknown> => {
    let lastError: unknown;
    for (const attemptRecord of [one, { ...one, reason: POISON_REASON }]) {
      try {
        written(await notifications.recordOutcomes([attemptRecord], now()));
        if (attemptRecord !== one) log.warn({ err: lastError, deliveryId: one.deliveryId }, 'An outcome could not be stored as it was; stored with a plain reason');
        return undefined;
      } catch (error) {
        lastError = error;
      }
    }
    return lastError;
  };
  // Writes happen one after another. A batch that fails is written record by record, so one
  // record the database refuses cannot hold back the rest; what still cannot be written is put back
  // for the next attempt, and drain() reports the error (those devices then stay pending).
  const flush = () => {
    const records = buffer.splice(0);
    if (records.length === 0) return flushing;
    flushing = flushing.then(async () => {
      try {
        written(await notifications.recordOutcomes(records, now()));
        writeError = undefined;
        return;
      } catch (error) {
        writeError = error;
      }
      const unwritten: OutcomeRecord[] = [];
      let failedInARow = 0;
      for (const one of records) {
        // Several records in a row that cannot be written at all: the database is away, not one
        // record poisoned; the rest go back without a query each.
        const error = failedInARow >= 3 ? writeError : await writeAlone(one);
        failedInARow = error === undefined ? 0 : failedInARow + 1;
        if (error !== undefined) {
          unwritten.push(one);
          writeError = error;
        }
      }
      if (unwritten.length === 0) writeError = undefined;
      buffer.unshift(...unwritten);
    });
    return flushing;
  };

  const noteStop = async (status: number | null, reason: string) => {
    if (stopped) return;
    const error = `APNs refused the credentials (${status} ${reason}): fix the APNs key or certificate; no device was removed`;
    stopped = error;
    log.error({ status, reason }, error);
    await notifications.stop(notification.id, error);
  };

  const record = (delivery: Delivery, attempts: number, outcome: OutcomeRecord['outcome'], status: number | null, reason: string | null): OutcomeRecord => ({
    notificationId: notification.id,
    deliveryId: delivery.id,
    channel: delivery.channel,
    outcome,
    status,
    reason,
    attempts,
  });

  /**
   * Attempts until the delivery has its outcome. `first` is an answer already in hand for the first
   * of them (from the fast path in add()).
   */
  const deliver = async (delivery: Delivery, first?: { result: ApnsResult | WebPushResult; action: Action }): Promise<OutcomeRecord | undefined> => {
    for (let attemptNo = delivery.attempts + 1; ; attemptNo++) {
      let answer = first;
      first = undefined;
      if (!answer) {
        // After a shutdown the device stays pending for the next run.
        if (signal.aborted) return undefined;
        if (stopped && delivery.channel === 'safari') return record(delivery, attemptNo - 1, 'failed', null, `NotSent: ${stopped.slice(0, 200)}`);
        answer = await attempt(delivery);
      }
      const { result, action } = answer;
      if (!result.ok && 'unbuilt' in result) return record(delivery, attemptNo - 1, 'failed', null, result.reason);
      if (result.ok) return record(delivery, attemptNo, 'sent', delivery.channel === 'webpush' ? 201 : 200, null);
      switch (action) {
        case 'remove':
          await devices.removeToken(delivery.token, delivery.channel);
          return record(delivery, attemptNo, 'removed', result.status, result.reason);
        case 'remove-unless-reregistered': {
          const removal = await devices.removeUnlessRegisteredAfter(delivery.token, ('timestamp' in result ? result.timestamp : undefined) ?? now());
          return removal === 'kept'
            ? record(delivery, attemptNo, 'failed', result.status, `${result.reason} (kept: registered again after APNs' timestamp)`)
            : record(delivery, attemptNo, 'removed', result.status, result.reason);
        }
        case 'stop':
          await noteStop(result.status, result.reason);
          return record(delivery, attemptNo, 'failed', result.status, result.reason);
        case 'retry': {
          const asked = 'retryAfterMs' in result ? result.retryAfterMs ?? 0 : 0;
          // A paused push service: nothing was sent, so no attempt is used up; wait out the pause.
          if ('notSent' in result && result.notSent) {
            attemptNo--;
            await rest(delivery.channel, Math.min(MAX_RETRY_DELAY_MS, asked));
            break;
          }
          if (attemptNo >= options.maxAttempts) return record(delivery, attemptNo, 'failed', result.status, result.reason);
          log.debug({ token: maskToken(delivery.token), channel: delivery.channel, attempt: attemptNo, status: result.status, reason: result.reason }, 'Transient failure, retrying');
          await rest(delivery.channel, Math.min(MAX_RETRY_DELAY_MS, Math.max(asked, retryDelay(attemptNo, options.retryBaseMs))));
          break;
        }
        default:
          return record(delivery, attemptNo, 'failed', result.status, result.reason);
      }
    }
  };

  const finished = (delivery: Delivery, outcome: OutcomeRecord | undefined) => {
    settle(delivery.channel);
    if (!outcome) return;
    buffer.push(outcome);
    if (buffer.length >= FLUSH_EVERY) void flush();
  };
  const crashed = (delivery: Delivery, error: unknown) => {
    settle(delivery.channel);
    // The device stays pending (a later run or the next start sends it); the send goes on.
    log.error({ err: error, token: maskToken(delivery.token) }, 'Delivery failed unexpectedly');
  };
  const slowPath = (delivery: Delivery, first?: { result: ApnsResult; action: Action }) =>
    void deliver(delivery, first).then(
      (outcome) => finished(delivery, outcome),
      (error: unknown) => crashed(delivery, error),
    );
  /**
   * What nearly every device of a broadcast takes: a Safari device's first attempt, accepted. It
   * runs without async frames of its own (a broadcast runs it a million times); any other answer
   * goes on in deliver().
   */
  const fastPath = (delivery: Delivery) => {
    const built = safariBodyFor(delivery);
    if (!built.ok) return slowPath(delivery, notBuilt(built.reason));
    return fastSend(delivery, built.message);
  };
  const fastSend = (delivery: Delivery, body: string | undefined) =>
    void apns.send(delivery.token, sharedSafariMessage, body).then(
      (answer) => {
        const result = apnsAnswered(answer);
        if (result.ok) finished(delivery, record(delivery, delivery.attempts + 1, 'sent', 200, null));
        else slowPath(delivery, { result, action: actionFor(result) });
      },
      (error: unknown) => crashed(delivery, error),
    );

  // Another worker may have met refused credentials: look at most once a second (no await otherwise).
  const checkStopped = (): Promise<void> | undefined => {
    if (stopped || Date.now() - lastStopCheck < STOP_CHECK_MS) return undefined;
    lastStopCheck = Date.now();
    return notifications.stopReason(notification.id).then((reason) => {
      if (reason) stopped = reason;
    });
  };

  return {
    get halted() {
      return signal.aborted;
    },
    async add(deliveries) {
      if (personal) {
        const found = await notifications.recipients(deliveries.flatMap((d) => (d.deviceId === null ? [] : [d.deviceId])));
        for (const delivery of deliveries) if (delivery.deviceId !== null) delivery.recipient = found.get(delivery.deviceId);
      }
      for (const delivery of deliveries) {
        const checking = checkStopped();
        if (checking) await checking;
        if (signal.aborted) return;
        while (activeIn[delivery.channel] >= options.concurrency[delivery.channel]) await slotFreed();
        active++;
        activeIn[delivery.channel]++;
        // The fast path skips deliver()'s checks before an attempt: only when neither would hold.
        if (delivery.channel === 'safari' && !stopped && !signal.aborted) fastPath(delivery);
        else slowPath(delivery);
      }
    },
    async drain() {
      while (active > 0) await slotFreed();
      await flush();
      if (buffer.length > 0) await flush();
      if (writeError !== undefined) throw writeError;
    },
  };
}

/**
 * Ends a send once every device has an outcome: when the credentials were refused, every device
 * still without one is failed as not sent; then the notification is completed or failed.
 */
export async function concludeSend(id: string, deps: Pick<SenderDeps, 'notifications' | 'metrics' | 'clock'>): Promise<void> {
  const reason = await deps.notifications.stopReason(id);
  if (reason) {
    const notSent = await deps.notifications.failRemaining(id, `NotSent: ${reason.slice(0, 200)}`, nowOf(deps));
    deps.metrics.delivery('failed', notSent);
  }
  await deps.notifications.finishIfDone(id, nowOf(deps));
}
