import type { DeliveryRange, StoredNotification } from './repository';
import { concludeSend, nowOf, startSendRun, type SendRun, type SenderDeps, type SenderOptions } from './sender';


/**
 * A control group's notification is never sent: should one reach a sender (a restart picked it up
 * before its campaign's scheduler held it out), its devices are held out here. True when it was one.
 */
async function heldOut(notification: StoredNotification, deps: SenderDeps): Promise<boolean> {
  if (!notification.control) return false;
  deps.metrics.delivery('held_out', await deps.notifications.failRemaining(notification.id, 'control_group', nowOf(deps), 'held_out'));
  await deps.notifications.finishIfDone(notification.id, nowOf(deps));
  return true;
}

/** Feeds a run every pending delivery that exists already, in id order. */
async function sendLeftovers(id: string, run: SendRun, deps: SenderDeps, options: SenderOptions): Promise<void> {
  for (let after = 0; !run.halted; ) {
    const leftovers = await deps.notifications.pendingAfter(id, after, options.pageSize);
    if (leftovers.length === 0) return;
    after = leftovers[leftovers.length - 1].id;
    await run.add(leftovers);
  }
}

/** Feeds a run the pending deliveries of one range, page by page. */
async function feedRange(id: string, range: DeliveryRange, run: SendRun, deps: SenderDeps, options: SenderOptions): Promise<void> {
  for (let after = range.from; !run.halted; ) {
    const page = await deps.notifications.pendingInRange(id, range, after, options.pageSize);
    if (page.length === 0) return;
    after = page[page.length - 1].deviceId ?? range.to;
    await run.add(page);
  }
}

/**
 * The embedded queue's job: one process sends the whole notification. First what an earlier run
 * left pending, then the target page by page (planning the next page while the previous one is
 * still in flight), then the conclusion. After a shutdown the rest stays pending for the next start.
 */
export async function sendWhole(id: string, deps: SenderDeps, options: SenderOptions, signal: AbortSignal): Promise<void> {
  const notification = await deps.notifications.get(id);
  if (!notification || notification.status === 'completed' || notification.status === 'failed' || (await heldOut(notification, deps))) return;
  await deps.notifications.markSending(id, nowOf(deps));
  const run = startSendRun(notification, deps, options, signal);
  try {
    await sendLeftovers(id, run, deps, options);
    while (!run.halted) {
      const range = await deps.notifications.planNext(id, options.pageSize, nowOf(deps));
      if (!range) break;
      await feedRange(id, range, run, deps, options);
    }
  } finally {
    // Whatever went wrong, what is in flight is waited for and recorded before this returns.
    await run.drain();
  }
  if (signal.aborted) return;
  await concludeSend(id, deps);
}

/**
 * The distributed plan job: materializes the target page by page and hands each page out as a
 * batch job that any worker may take. Progress lives in the database, so a plan job that is
 * retried after a crash continues where it stopped.
 */
export async function planSend(
  id: string,
  deps: SenderDeps,
  options: SenderOptions,
  enqueue: { batch(range: DeliveryRange): Promise<void>; sweep(): Promise<void> },
): Promise<void> {
  const notification = await deps.notifications.get(id);
  if (!notification || notification.status === 'completed' || notification.status === 'failed' || (await heldOut(notification, deps))) return;
  await deps.notifications.markSending(id, nowOf(deps));
  for (;;) {
    const range = await deps.notifications.planNext(id, options.pageSize, nowOf(deps));
    if (!range) break;
    await enqueue.batch(range);
  }
  // Finishes a send whose batches all ended before planning did (or that was stopped)...
  await concludeSend(id, deps);
  // ...and, in case a batch job is lost on the way, a sweep sends what is left once no batch is open.
  await enqueue.sweep();
}

/** The distributed batch job: sends the pending deliveries of one range, then ends the send if it was the last. */
export async function sendBatch(id: string, range: DeliveryRange, deps: SenderDeps, options: SenderOptions, signal: AbortSignal): Promise<void> {
  const notification = await deps.notifications.get(id);
  if (!notification || notification.status === 'completed' || notification.status === 'failed' || (await heldOut(notification, deps))) return;
  const run = startSendRun(notification, deps, options, signal);
  try {
    await feedRange(id, range, run, deps, options);
  } finally {
    await run.drain();
  }
  if (signal.aborted) return;
  await concludeSend(id, deps);
}

/**
 * The distributed sweep job: once no batch of the notification is open any more, sends what is
 * still pending (a page whose batch job was lost or gave up, a device whose delivery threw) and
 * concludes. The caller makes sure no batch is open.
 */
export async function sweepSend(id: string, deps: SenderDeps, options: SenderOptions, signal: AbortSignal): Promise<void> {
  const notification = await deps.notifications.get(id);
  if (!notification || notification.status === 'completed' || notification.status === 'failed' || (await heldOut(notification, deps))) return;
  const run = startSendRun(notification, deps, options, signal);
  try {
    await sendLeftovers(id, run, deps, options);
  } finally {
    await run.drain();
  }
  if (signal.aborted) return;
  await concludeSend(id, deps);
}
