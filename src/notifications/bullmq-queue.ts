import { Queue, Worker, type Job } from 'bullmq';
import IORedis from 'ioredis';
import type { Logger } from '../logger';
import type { SendQueue } from './queue';
import type { DeliveryRange } from './repository';
import type { SenderDeps, SenderOptions } from './sender';
import { planSend, sendBatch, sweepSend } from './steps';

type JobData = { kind: 'plan'; id: string } | { kind: 'sweep'; id: string } | ({ kind: 'batch'; id: string } & DeliveryRange);

export interface BullQueueOptions {
  url: string;
  name: string;
  /** Run a worker in this process (the API may leave the work to `npm run worker` processes). */
  work: boolean;
  /** Jobs one worker process runs at once. */
  concurrency: number;
  /** A job whose worker stops renewing its lock this long is handed to another worker. */
  lockMs: number;
}

const RETRY = { attempts: 20, backoff: { type: 'exponential', delay: 1000 } } as const;

/**
 * Send work on BullMQ: a plan job per notification cuts the target into batches (one page of
 * devices each), and any worker on any machine takes batches; a sweep job, once no batch is open,
 * sends whatever is still pending (a batch job lost between planning and queueing, or one that
 * gave up) and concludes the send. When a worker dies, BullMQ notices its
 * lock expire and hands the batch to another worker, which sends only what is still pending: only
 * devices of the interrupted batch can be sent twice. PostgreSQL is the shared store.
 */
export function createBullQueue(deps: SenderDeps, options: SenderOptions, queueOptions: BullQueueOptions, logger: Logger): SendQueue {
  const connection = new IORedis(queueOptions.url, { maxRetriesPerRequest: null });
  const queue = new Queue<JobData>(queueOptions.name, { connection });
  const controller = new AbortController();
  let stopping: Promise<void> | undefined;

  const addBatch = async (id: string, range: DeliveryRange) => {
    // BullMQ ignores a job whose id exists already: a retried plan job does not duplicate batches.
    await queue.add('batch', { kind: 'batch', id, ...range }, { jobId: `batch-${id}-${range.from}`, ...RETRY, removeOnComplete: true, removeOnFail: 1000 });
  };
  const addSweep = async (id: string) => {
    await queue.add('sweep', { kind: 'sweep', id }, { jobId: `sweep-${id}`, delay: queueOptions.lockMs, ...RETRY, removeOnComplete: true, removeOnFail: true });
  };
  /** True while any batch of the notification waits, runs, or waits for a retry. */
  const hasOpenBatches = async (id: string) => {
    const jobs = await queue.getJobs(['active', 'waiting', 'delayed', 'prioritized']);
    return jobs.some((job) => job?.data.kind === 'batch' && job.data.id === id);
  };

  const worker = queueOptions.work
    ? new Worker<JobData>(
        queueOptions.name,
        async (job: Job<JobData>) => {
          const data = job.data;
          if (data.kind === 'plan') {
            await planSend(data.id, deps, options, { batch: (range) => addBatch(data.id, range), sweep: () => addSweep(data.id) });
            return;
          }
          if (data.kind === 'sweep') {
            // Sending what is pending while a batch still works on it would send it twice: wait (BullMQ retries with backoff).
            if (await hasOpenBatches(data.id)) throw new Error('Batches of this send are still open; the sweep waits');
            await sweepSend(data.id, deps, options, controller.signal);
            if (controller.signal.aborted) throw new Error('Sweep interrupted by shutdown; it will be retried');
            return;
          }
          await sendBatch(data.id, { from: data.from, to: data.to }, deps, options, controller.signal);
          // Shutdown interrupted the batch: fail the job so BullMQ gives what is pending to another worker.
          if (controller.signal.aborted) throw new Error('Batch interrupted by shutdown; it will be retried');
        },
        { connection, concurrency: queueOptions.concurrency, lockDuration: queueOptions.lockMs, stalledInterval: queueOptions.lockMs, maxStalledCount: 10 },
      )
    : undefined;
  worker?.on('failed', (job, error) => logger.warn({ jobId: job?.id, err: error }, 'Send job failed; BullMQ retries it'));
  worker?.on('error', (error) => logger.error({ err: error }, 'BullMQ worker error'));

  return {
    async enqueue(id) {
      await queue.add('plan', { kind: 'plan', id }, { jobId: `plan-${id}`, ...RETRY, removeOnComplete: true, removeOnFail: true });
    },
    async settled(id, signal) {
      // The work may run on another machine: the database says when it has ended.
      for (;;) {
        const notification = await deps.notifications.get(id);
        if (!notification || notification.status === 'completed' || notification.status === 'failed' || controller.signal.aborted || signal?.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async resume() {
      const ids = await deps.notifications.unfinished();
      for (const id of ids) await this.enqueue(id);
      if (ids.length > 0) logger.info({ count: ids.length }, 'Re-planning unfinished sends on the queue');
      return ids.length;
    },
    async stats() {
      const [waiting, running] = await Promise.all([queue.getWaitingCount(), queue.getActiveCount()]);
      return { waiting, running };
    },
    stop() {
      // Idempotent: the server's shutdown and closeContext may both ask.
      stopping ??= (async () => {
        controller.abort();
        await worker?.close();
        await queue.close();
        await connection.quit();
      })();
      return stopping;
    },
  };
}
