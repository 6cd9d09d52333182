import type { Logger } from '../logger';
import type { SenderDeps, SenderOptions } from './sender';
import { sendWhole } from './steps';

/** Where send work runs: in this process, or on BullMQ workers. */
export interface SendQueue {
  /** Starts sending in the background. */
  enqueue(id: string): Promise<void>;
  /**
   * Resolves when the notification's send has ended (completed, failed, or interrupted by shutdown),
   * or as soon as `signal` aborts (the client that waited went away).
   */
  settled(id: string, signal?: AbortSignal): Promise<void>;
  /** Picks up every notification a previous run left queued or sending. */
  resume(): Promise<number>;
  /** Stops taking devices, waits until every running send has recorded what it finished. */
  stop(): Promise<void>;
  /** Notifications waiting for a sender, and being sent. */
  stats(): Promise<{ waiting: number; running: number }>;
}

/**
 * The embedded queue: sends run in this process, `maxParallel` notifications at a time. All state
 * is in the database, so nothing is lost when the process stops.
 */
export function createInProcessQueue(deps: SenderDeps, options: SenderOptions & { maxParallel: number }, logger: Logger): SendQueue {
  const controller = new AbortController();
  const running = new Map<string, Promise<void>>();
  const waiting: string[] = [];

  const start = (id: string) => {
    const task = sendWhole(id, deps, options, controller.signal)
      .catch((error: unknown) => logger.error({ err: error, notificationId: id }, 'Send failed; pending devices resume at the next start'))
      .finally(() => {
        running.delete(id);
        const next = waiting.shift();
        if (next && !controller.signal.aborted) start(next);
      });
    running.set(id, task);
  };

  return {
    async enqueue(id) {
      if (running.has(id) || waiting.includes(id)) return;
      if (running.size < options.maxParallel) start(id);
      else waiting.push(id);
    },
    async settled(id, signal) {
      const gone = signal ? new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })) : undefined;
      while ((running.has(id) || waiting.includes(id)) && !signal?.aborted) {
        const next = running.get(id) ?? Promise.race(running.values());
        await (gone ? Promise.race([next, gone]) : next);
      }
    },
    async resume() {
      const ids = await deps.notifications.unfinished();
      for (const id of ids) await this.enqueue(id);
      if (ids.length > 0) logger.info({ count: ids.length }, 'Resuming unfinished sends');
      return ids.length;
    },
    stats: async () => ({ waiting: waiting.length, running: running.size }),
    async stop() {
      controller.abort();
      waiting.length = 0;
      // Safe to call twice: the second call waits for the same sends.
      await Promise.all(running.values());
    },
  };
}
