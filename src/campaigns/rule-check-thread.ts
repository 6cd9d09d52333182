import { parentPort, workerData } from 'node:worker_threads';
import { nextOccurrence, type Schedule } from './schedule';

/**
 * Expands the first few occurrences of a recurring schedule, off the event loop: a rule whose
 * parts are each in range may still have no occurrence for centuries (BYMONTH=2;BYMONTHDAY=30),
 * and rrule searches on to the year 9999. The caller ends this thread when it takes too long.
 */
const { schedule, from, count } = workerData as { schedule: Schedule; from: number; count: number };
const found: number[] = [];
let after = from - 1;
for (let i = 0; i < count; i++) {
  const next = nextOccurrence(schedule, after, from);
  if (next === undefined) break;
  found.push(next);
  after = next;
}
parentPort?.postMessage(found);
