import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger';
import { stopThread, threadEntry } from '../threads';
import { encryptPushMessage, EncryptionError } from './encrypt';
import type { EncryptBatch, EncryptReport } from './encrypt-thread';

/** Encrypts push messages, on worker threads or (0 threads) on the calling event loop. */
export interface Encryptor {
  /** The aes128gcm body; rejects with EncryptionError for keys that cannot be used, with another error when a thread died. */
  encrypt(p256dh: string, auth: string, payload: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Messages handed to a thread in one postMessage at most; a turn of the event loop's worth goes in batches of this size. */
const MAX_BATCH = 64;
const CLOSE_TIMEOUT_MS = 5_000;
/**
 * A thread keeps nothing between batches but its code: a small young generation (its garbage is
 * each batch's keys and buffers) keeps a 1,000,000-subscription broadcast under 300 MB for the
 * whole process (measured: 2 threads under load 106 MB with 2 MB, 125 MB with 8 MB).
 */
const THREAD_YOUNG_GENERATION_MB = 2;
const THREAD_OLD_GENERATION_MB = 16;

interface Waiting {
  resolve(body: Buffer): void;
  reject(error: Error): void;
}

/** A thread that died: what its unfinished messages are told (they are retried, not failed). */
export class EncryptThreadError extends Error {
  override name = 'EncryptThreadStopped';
}

class EncryptLane {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private batch: EncryptBatch = EncryptLane.empty();
  private scheduled = false;
  private closing = false;

  constructor(
    private readonly name: string,
    private readonly entry: string,
    private readonly logger: Logger,
  ) {}

  private static empty(): EncryptBatch {
    return { type: 'encrypt', ids: [], p256dh: [], auth: [], payloads: [] };
  }

  get load(): number {
    return this.waiting.size;
  }

  private start(): Worker {
    const worker = new Worker(this.entry, { name: this.name, resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: THREAD_OLD_GENERATION_MB } });
    worker.unref();
    worker.on('message', (report: EncryptReport) => this.settle(report));
    worker.on('error', (error) => this.stopped(worker, `it failed: ${error.message}`));
    worker.on('exit', (code) => this.stopped(worker, `it exited with ${code}`));
    this.worker = worker;
    return worker;
  }

  encrypt(id: number, p256dh: string, auth: string, payload: string): Promise<Buffer> {
    if (this.closing) return Promise.reject(new EncryptThreadError('Web Push encryption closed'));
    this.batch.ids.push(id);
    this.batch.p256dh.push(p256dh);
    this.batch.auth.push(auth);
    this.batch.payloads.push(payload);
    if (this.batch.ids.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      // What arrives in one turn of the event loop goes over together.
      setImmediate(() => this.flush());
    }
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private flush(): void {
    this.scheduled = false;
    if (this.batch.ids.length === 0) return;
    const batch = this.batch;
    this.batch = EncryptLane.empty();
    (this.worker ?? this.start()).postMessage(batch);
  }

  private settle(report: EncryptReport): void {
    const failed = new Map(report.errors);
    let start = 0;
    report.ids.forEach((id, i) => {
      const end = report.ends[i];
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      const error = failed.get(id);
      if (error !== undefined) waiter?.reject(new EncryptionError(error));
      else waiter?.resolve(Buffer.from(report.bytes, start, end - start));
      start = end;
    });
  }

  /** The thread is gone: its messages fail as retryable, and the next one starts a new thread. */
  private stopped(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.closing) why = 'Web Push encryption closed';
    else if (this.waiting.size > 0) this.logger.error({ thread: this.name, inFlight: this.waiting.size }, `Web Push encryption thread stopped: ${why}; its messages are retried`);
    const error = new EncryptThreadError(`Web Push encryption thread stopped: ${why}`);
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  /** For tests: the running thread, if any. */
  get thread(): Worker | undefined {
    return this.worker;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.worker) await stopThread(this.worker, { type: 'close' }, CLOSE_TIMEOUT_MS);
  }
}

export interface EncryptPool extends Encryptor {
  /** The running threads (a stopped one is replaced on its next message). */
  readonly threads: Worker[];
}

/**
 * RFC 8291 encryption on `threads` worker threads: the P-256 key agreement of every message is the
 * most expensive step of a Web Push send, and here it runs beside the event loop that speaks to push
 * services and records outcomes. Messages go to the least loaded thread in batches per turn of the
 * event loop; the bodies come back in one transferred buffer per batch. 0 threads encrypts inline.
 */
export function createEncryptPool(threads: number, logger: Logger): EncryptPool {
  if (threads === 0) {
    return {
      threads: [],
      encrypt: (p256dh, auth, payload) => {
        try {
          return Promise.resolve(encryptPushMessage(p256dh, auth, payload));
        } catch (error) {
          return Promise.reject(error as Error);
        }
      },
      close: () => Promise.resolve(),
    };
  }
  const entry = threadEntry(__dirname, 'encrypt-thread.js');
  const lanes = Array.from({ length: threads }, (_, i) => new EncryptLane(`webpush-encrypt-${i + 1}`, entry, logger));
  let next = 1;
  return {
    get threads() {
      return lanes.map((lane) => lane.thread).filter((w): w is Worker => w !== undefined);
    },
    encrypt(p256dh, auth, payload) {
      let lane = lanes[0];
      for (const candidate of lanes) if (candidate.load < lane.load) lane = candidate;
      return lane.encrypt(next++, p256dh, auth, payload);
    },
    async close() {
      await Promise.all(lanes.map((lane) => lane.close()));
    },
  };
}
