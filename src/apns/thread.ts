import { parentPort, workerData } from 'node:worker_threads';
import type { SigningIdentity } from '../certs/identity';
import type { ApnsConfig } from '../config/load';
import { createApnsClient, type ApnsClient, type ApnsMessage, type PreparedMessage } from './client';
import { useLeanAsyncBind } from './lean-async-bind';
import type { ApnsResult } from './outcomes';

/**
 * The body of one APNs thread (see threaded-client.ts): an ordinary node-apn client with its own
 * connections and stream window, fed in batches by the main thread and answering in batches.
 */

/** What the main thread sends: message definitions first, then devices to send them to. */
export interface SendBatch {
  type: 'send';
  /** Messages this thread has not seen yet, by id. */
  define: Array<[number, ApnsMessage]>;
  /** Messages no longer needed (their handles were collected on the main thread). */
  release: number[];
  /** Request ids, device tokens and message ids, one entry per device. */
  requests: number[];
  tokens: string[];
  messages: number[];
  /** The device's own JSON body, or null for the message's. */
  bodies: Array<string | null>;
}

/** What the thread answers: requests APNs accepted, and the others with their typed failure. */
export type ThreadReport =
  | { type: 'ready' }
  | { type: 'failed'; message: string; config: boolean }
  | { type: 'results'; sent: Float64Array; failed: Array<[number, ApnsResult]> };

export interface ThreadData {
  config: ApnsConfig;
  identity: Pick<SigningIdentity, 'certificatePem' | 'privateKeyPem'>;
}

function run(): void {
  const port = parentPort;
  if (!port) throw new Error('src/apns/thread.js runs as a worker thread of the APNs client');
  const { config, identity } = workerData as ThreadData;
  // Every HTTP/2 request binds one function; see lean-async-bind.ts for why this thread binds leanly.
  useLeanAsyncBind();
  let client: ApnsClient;
  try {
    client = createApnsClient(config, identity as SigningIdentity);
  } catch (error) {
    port.postMessage({ type: 'failed', message: (error as Error).message, config: (error as Error).name === 'ConfigError' } satisfies ThreadReport);
    return;
  }
  const messages = new Map<number, PreparedMessage>();
  const unbuildable = new Map<number, string>();
  let sent: number[] = [];
  let failed: Array<[number, ApnsResult]> = [];
  let reporting = false;
  // Answers go back together, at most a millisecond late: one message per hundred answers or so
  // instead of one per turn of the event loop (each message wakes the main thread).
  const report = () => {
    reporting = false;
    const ids = Float64Array.from(sent);
    port.postMessage({ type: 'results', sent: ids, failed } satisfies ThreadReport, [ids.buffer]);
    sent = [];
    failed = [];
  };
  const answered = (request: number, result: ApnsResult) => {
    if (result.ok) sent.push(request);
    else failed.push([request, result]);
    if (!reporting) {
      reporting = true;
      setTimeout(report, 1);
    }
  };

  port.on('message', (message: SendBatch | { type: 'close' }) => {
    if (message.type === 'close') {
      void client.close().finally(() => port.close());
      return;
    }
    for (const [id, definition] of message.define) {
      try {
        messages.set(id, client.prepare(definition));
      } catch (error) {
        // Its requests are answered as failed below; the thread, and every other send, goes on.
        unbuildable.set(id, (error as Error).message);
      }
    }
    for (let i = 0; i < message.requests.length; i++) {
      const request = message.requests[i];
      const prepared = messages.get(message.messages[i]);
      if (!prepared) {
        const why = unbuildable.get(message.messages[i]) ?? 'unknown message';
        answered(request, { ok: false, status: null, reason: `APNs thread could not build the message: ${why}` });
        continue;
      }
      void client.send(message.tokens[i], prepared, message.bodies[i] ?? undefined).then((result) => answered(request, result));
    }
    // After the requests: a message may be released in the batch that last uses it.
    for (const id of message.release) {
      messages.delete(id);
      unbuildable.delete(id);
    }
  });
  port.postMessage({ type: 'ready' } satisfies ThreadReport);
}

run();
