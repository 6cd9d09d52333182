import type { Logger } from '../logger';
import type { NotificationRepository } from './repository';
import { sendNotification, type SenderDeps, type SenderOptions } from './sender';

export interface SendQueue {
  /** Starts sending in the background. */
  enqueue(id: string): void;
  /** Resolves when the notification's send has ended (completed, failed, or interrupted by shutdown). */
  settled(id: string): Promise<void>;
  /** Enqueues every notification a previous run left queued or sending. */
  resume(): Promise<number>;
  /** Stops taking devices, waits until every running send has recorded what it finished. */
  stop(): Promise<void>;
  stats(): { waiting: number; running: number };
}

/**
 * The embedded, in-process queue: sends run in this process, `maxParallel` notifications at
 * a time. State lives in the database, so nothing is lost when the process stops.
 */
export function createInProcessQueue(
  deps: SenderDeps & { notifications: NotificationRepository },
  options: SenderOptions & { maxParallel: number },
  logger: Logger,
): SendQueue {
  const controller = new AbortController();
  const running = new Map<string, Promise<void>>();
  const waiting: string[] = [];

  const run = (id: string): Promise<void> => {
    const task = (async () => {
      const notification = await deps.notifications.get(id);
      if (!notification || notification.status === 'completed' || notification.status === 'failed') return;
      if (notification.status === 'queued') await deps.notifications.markSending(id, Date.now());
      await sendNotification(notification, deps, options, controller.signal);
    })()
      .catch((error: unknown) => logger.error({ err: error, notificationId: id }, 'Send failed; pending devices resume at the next start'))
      .finally(() => {
        running.delete(id);
        const next = waiting.shift();
        if (next && !controller.signal.aborted) start(next);
      });
    return task;
  };
  const start = (id: string) => running.set(id, run(id));

  return {
    enqueue(id) {
      if (running.has(id) || waiting.includes(id)) return;
      if (running.size < options.maxParallel) start(id);
      else waiting.push(id);
    },
    async settled(id) {
      while (running.has(id) || waiting.includes(id)) {
        await (running.get(id) ?? Promise.race(running.values()));
      }
    },
    async resume() {
      const ids = await deps.notifications.unfinished();
      ids.forEach((id) => this.enqueue(id));
      if (ids.length > 0) logger.info({ count: ids.length }, 'Resuming unfinished sends');
      return ids.length;
    },
    stats: () => ({ waiting: waiting.length, running: running.size }),
    async stop() {
      controller.abort();
      waiting.length = 0;
      await Promise.all(running.values());
    },
  };
}
