import { parentPort } from 'node:worker_threads';
import { encryptPushMessage } from './encrypt';

/**
 * The body of one Web Push encryption thread (see encrypt-pool.ts): takes a batch of messages,
 * encrypts each (RFC 8291) and answers with every body in one transferred buffer.
 */

/** What the main thread sends: one entry per message, in parallel arrays. */
export interface EncryptBatch {
  type: 'encrypt';
  ids: number[];
  p256dh: string[];
  auth: string[];
  payloads: string[];
}

/** The bodies back to back in `bytes`; `ends[i]` is where the i-th ends (0-length: failed, see `errors`). */
export type EncryptReport = { type: 'encrypted'; ids: number[]; bytes: ArrayBuffer; ends: Uint32Array; errors: Array<[number, string]> };

function run(): void {
  const port = parentPort;
  if (!port) throw new Error('src/webpush/encrypt-thread.js runs as a worker thread of the Web Push client');
  port.on('message', (message: EncryptBatch | { type: 'close' }) => {
    if (message.type === 'close') {
      port.close();
      return;
    }
    const bodies: Buffer[] = [];
    const errors: Array<[number, string]> = [];
    let size = 0;
    for (let i = 0; i < message.ids.length; i++) {
      try {
        const body = encryptPushMessage(message.p256dh[i], message.auth[i], message.payloads[i]);
        bodies.push(body);
        size += body.length;
      } catch (error) {
        bodies.push(Buffer.alloc(0));
        errors.push([message.ids[i], (error as Error).message]);
      }
    }
    // One buffer for the batch, transferred: the bodies themselves may sit in Node's shared pool.
    const bytes = new ArrayBuffer(size);
    const view = new Uint8Array(bytes);
    const ends = new Uint32Array(bodies.length);
    let offset = 0;
    bodies.forEach((body, i) => {
      view.set(body, offset);
      offset += body.length;
      ends[i] = offset;
    });
    port.postMessage({ type: 'encrypted', ids: message.ids, bytes, ends, errors } satisfies EncryptReport, [bytes, ends.buffer]);
  });
}

run();
