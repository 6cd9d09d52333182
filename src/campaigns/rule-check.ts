import { Worker } from 'node:worker_threads';
import { threadEntry } from '../threads';
import type { Schedule } from './schedule';

/** How long the first occurrences of a rule may take to find. */
export const RULE_CHECK_MS = 1000;

/**
 * Undefined when a recurring schedule's first occurrences (from `from`) are found within
 * RULE_CHECK_MS, else why not. Run in a thread of its own, ended at the deadline, so a costly rule
 * is a 400 and never holds up the event loop (where the scheduler expands it later, cheaply once
 * it has occurrences: see rebased() in schedule.ts).
 */
export async function ruleCostProblem(schedule: Schedule, from: number, count = 3): Promise<string | undefined> {
  if (schedule.type !== 'recurring') return undefined;
  const worker = new Worker(threadEntry(__dirname, 'rule-check-thread.js'), { workerData: { schedule, from, count } });
  try {
    const outcome = await new Promise<'done' | 'slow' | 'error'>((resolve) => {
      const timer = setTimeout(() => resolve('slow'), RULE_CHECK_MS);
      worker.once('message', () => {
        clearTimeout(timer);
        resolve('done');
      });
      worker.once('error', () => {
        clearTimeout(timer);
        resolve('error');
      });
    });
    if (outcome === 'slow') return `schedule.rrule: its occurrences take too long to find (more than ${RULE_CHECK_MS} ms for the first ${count}): a rule that matches rarely or never (such as BYMONTH=2;BYMONTHDAY=30)`;
    if (outcome === 'error') return 'schedule.rrule could not be expanded';
    return undefined;
  } finally {
    await worker.terminate();
  }
}
