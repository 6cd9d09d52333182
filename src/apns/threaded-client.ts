import { Worker } from 'node:worker_threads';
import type { SigningIdentity } from '../certs/identity';
import { ConfigError } from '../config/error';
import type { ApnsConfig } from '../config/load';
import type { Logger } from '../logger';
import { stopThread, threadEntry } from '../threads';
import type { ApnsClient, ApnsMessage, PreparedMessage } from './client';
import type { ApnsResult } from './outcomes';
import type { SendBatch, ThreadData, ThreadReport } from './thread';

/** A message prepared for the threads: defined in a thread the first time it is sent there. */
interface ThreadedMessage extends PreparedMessage {
  readonly id: number;
}

const START_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;
const THREAD_YOUNG_GENERATION_MB = 8;

/**
 * The old generation a thread may grow to: a base for node-apn, TLS and HTTP/2 sessions, and room
 * per stream of its window for a request in flight and one queued behind it (measured: 2.8 KB of
 * heap per request; 16 KB per stream leaves room three times over).
 * Without a limit V8 lets a busy thread's heap grow far past what it keeps alive before it collects;
 * near the limit it collects sooner. A thread that did run out would fail its requests as
 * unanswered (retried) and be started again.
 */
export function threadOldGenerationMb(streams: number): number {
  return 48 + Math.ceil((streams * 16) / 1024);
}

/** Spreads `connections` over `threads` as evenly as possible. */
export function connectionsOfThread(connections: number, threads: number, index: number): number {
  return Math.floor(connections / threads) + (index < connections % threads ? 1 : 0);
}

/** One APNs thread: its worker, what it has been told, and the requests waiting for its answers. */
class Lane {
  private worker: Worker | undefined;
  private readonly known = new Set<number>();
  private readonly waiting = new Map<number, (result: ApnsResult) => void>();
  private batch: SendBatch = Lane.emptyBatch();
  private flushing = false;
  private closing = false;
  private nextRequest = 1;

  constructor(
    private readonly name: string,
    private readonly data: ThreadData,
    private readonly entry: string,
    private readonly logger: Logger,
  ) {}

  private static emptyBatch(): SendBatch {
    return { type: 'send', define: [], release: [], requests: [], tokens: [], messages: [], bodies: [] };
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  get thread(): Worker | undefined {
    return this.worker;
  }

  /** Starts the thread; resolves once its node-apn client exists, rejects with its error otherwise. */
  start(): Promise<void> {
    // A smaller young generation than the main thread's default: a thread's garbage is short-lived
    // request state, and a 1,000,000-device broadcast must stay under 300 MB for the whole process.
    const { connections, streamsPerConnection } = this.data.config;
    const worker = new Worker(this.entry, {
      name: this.name,
      workerData: this.data,
      resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: threadOldGenerationMb(connections * streamsPerConnection) },
    });
    this.worker = worker;
    worker.unref();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      timer.unref();
      worker.on('message', (report: ThreadReport) => {
        if (report.type === 'results') return this.settle(report);
        clearTimeout(timer);
        if (report.type === 'ready') return resolve();
        reject(report.config ? new ConfigError(report.message) : new Error(report.message));
      });
      worker.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
        this.stopped(worker, `it failed: ${error.message}`);
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with ${code} while starting`));
        this.stopped(worker, `it exited with ${code}`);
      });
    });
  }

  send(token: string, message: ThreadedMessage, body: string | undefined): Promise<ApnsResult> {
    if (this.closing) return Promise.resolve({ ok: false, status: null, reason: 'APNs client closed' });
    // A thread that died is replaced on the next send; a failing start shows in these results.
    if (!this.worker) this.start().catch(() => undefined);
    const request = this.nextRequest++;
    if (!this.known.has(message.id)) {
      this.known.add(message.id);
      this.batch.define.push([message.id, message.message]);
    }
    this.batch.requests.push(request);
    this.batch.tokens.push(token);
    this.batch.messages.push(message.id);
    // A device's own body (one string) is all that crosses for it; the headers were defined once.
    this.batch.bodies.push(body ?? null);
    if (!this.flushing) {
      this.flushing = true;
      // Everything sent in one turn of the event loop goes to the thread as one message.
      setImmediate(() => this.flush());
    }
    return new Promise((resolve) => this.waiting.set(request, resolve));
  }

  /** A handle was collected: the thread may forget its message (told with the next batch). */
  forget(id: number): void {
    if (this.known.delete(id)) this.batch.release.push(id);
  }

  private flush(): void {
    this.flushing = false;
    const batch = this.batch;
    this.batch = Lane.emptyBatch();
    this.worker?.postMessage(batch);
  }

  private settle(report: Extract<ThreadReport, { type: 'results' }>): void {
    for (const request of report.sent) this.resolve(request, OK);
    for (const [request, result] of report.failed) this.resolve(request, result);
  }

  private resolve(request: number, result: ApnsResult): void {
    const resolve = this.waiting.get(request);
    this.waiting.delete(request);
    resolve?.(result);
  }

  /**
   * The thread is gone: its requests fail as unanswered (the sender retries them; a request may
   * have reached APNs, as with any lost connection), and the next send starts a new thread.
   */
  private stopped(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.known.clear();
    this.batch = Lane.emptyBatch();
    if (!this.closing) this.logger.error({ thread: this.name, inFlight: this.waiting.size }, `APNs thread stopped: ${why}; its requests are retried on a new thread`);
    const reason = this.closing ? 'APNs client closed' : `APNs thread stopped: ${why}`;
    for (const request of [...this.waiting.keys()]) this.resolve(request, { ok: false, status: null, reason });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.worker) await stopThread(this.worker, { type: 'close' }, CLOSE_TIMEOUT_MS);
  }
}

const OK: ApnsResult = Object.freeze({ ok: true });

/**
 * APNs through `config.threads` worker threads, each with its own node-apn client, its share of the
 * connections and its own stream window. TLS, HTTP/2 and node-apn's per-request work then run
 * beside the main event loop, which keeps answering HTTP and recording outcomes during a broadcast.
 * Requests go round-robin, batched per turn of the event loop; answers come back batched.
 */
export interface ThreadedApnsClient extends ApnsClient {
  /** The running threads (a stopped one is replaced on the next send). */
  readonly threads: Worker[];
}

export async function startThreadedApnsClient(config: ApnsConfig, identity: SigningIdentity, logger: Logger): Promise<ThreadedApnsClient> {
  const { threads } = config;
  // Config loading refuses this too; a thread without a connection would never send.
  if (threads < 1 || threads > config.connections) throw new ConfigError(`APNs threads (${threads}) must be between 1 and the number of connections (${config.connections})`);
  const entry = threadEntry(__dirname, 'thread.js');
  const lanes = Array.from(
    { length: threads },
    (_, index) =>
      new Lane(
        `apns-thread-${index + 1}`,
        { config: { ...config, connections: connectionsOfThread(config.connections, threads, index), threads: 0 }, identity: { certificatePem: identity.certificatePem, privateKeyPem: identity.privateKeyPem } },
        entry,
        logger,
      ),
  );
  try {
    await Promise.all(lanes.map((lane) => lane.start()));
  } catch (error) {
    await Promise.all(lanes.map((lane) => lane.close()));
    throw error;
  }
  // A message lives in the threads as long as its handle lives here.
  const handles = new FinalizationRegistry<number>((id) => lanes.forEach((lane) => lane.forget(id)));
  let next = 0;
  let nextMessage = 1;
  return {
    prepare(message: ApnsMessage): PreparedMessage {
      const prepared: ThreadedMessage = { id: nextMessage++, message };
      handles.register(prepared, prepared.id);
      return prepared;
    },
    send(token, message, body) {
      const lane = lanes[next];
      next = (next + 1) % lanes.length;
      return lane.send(token, message as ThreadedMessage, body);
    },
    async close() {
      await Promise.all(lanes.map((lane) => lane.close()));
    },
    get inFlight() {
      return lanes.reduce((sum, lane) => sum + lane.inFlight, 0);
    },
    get threads() {
      return lanes.map((lane) => lane.thread).filter((worker): worker is Worker => worker !== undefined);
    },
  };
}

/** The APNs client the configuration asks for: `APNS_THREADS=0` keeps it on the main event loop. */
export async function startApnsClient(config: ApnsConfig, identity: SigningIdentity, logger: Logger): Promise<ApnsClient> {
  // Loaded only here: with threads, node-apn lives in them and the main thread never loads it.
  if (config.threads === 0) return (require('./client') as typeof import('./client')).createApnsClient(config, identity);
  return startThreadedApnsClient(config, identity, logger);
}
