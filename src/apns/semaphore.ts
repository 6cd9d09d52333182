/** Bounds how many async tasks run at once; the rest wait in arrival order. */
export interface Semaphore {
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly waiting: number;
}

export function createSemaphore(limit: number): Semaphore {
  let active = 0;
  const queue: Array<() => void> = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return {
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    run(task) {
      const go = () => {
        const running = task();
        // Released whether the task resolves or rejects; the caller sees the task's own promise.
        running.then(release, release);
        return running;
      };
      if (active < limit) {
        active++;
        return go();
      }
      return new Promise<void>((resolve) => queue.push(resolve)).then(go);
    },
  };
}
