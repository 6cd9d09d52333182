import path from 'node:path';
import { Worker } from 'node:worker_threads';

// The replacement changes a Node prototype, so it is checked where it is used: in a thread of its
// own (the compiled module, as the APNs threads load it), never in the test process.
const MODULE = path.resolve(__dirname, '../../dist/src/apns/lean-async-bind.js');

const CHECKS = `
const { parentPort, workerData } = require('node:worker_threads');
const { AsyncLocalStorage, AsyncResource, executionAsyncId } = require('node:async_hooks');
const http2 = require('node:http2');
const { useLeanAsyncBind } = require(workerData.module);

function observe() {
  const storage = new AsyncLocalStorage();
  const resource = storage.run({ request: 7 }, () => new AsyncResource('check'));
  const receiver = { name: 'receiver' };
  const seen = {};
  const bound = resource.bind(function (a, b) {
    seen.store = storage.getStore();
    seen.inScope = executionAsyncId() === resource.asyncId();
    seen.self = this === receiver;
    seen.args = [a, b];
    return a + b;
  });
  seen.returned = bound.call(receiver, 2, 3);
  const withThis = resource.bind(function () { return this; }, receiver);
  seen.boundThis = withThis() === receiver;
  seen.hasDeprecatedAccessor = Object.prototype.hasOwnProperty.call(bound, 'asyncResource');
  let refused = false;
  try { resource.bind('not a function'); } catch (error) { refused = error instanceof TypeError; }
  seen.refusesNonFunctions = refused;
  return seen;
}

const before = observe();
const replaced = useLeanAsyncBind();
const after = observe();
const again = useLeanAsyncBind();

// node:http2 still works with it: a request to a local server gets its answer.
const server = http2.createServer((request, response) => response.end('ok'));
server.listen(0, '127.0.0.1', () => {
  const session = http2.connect('http://127.0.0.1:' + server.address().port);
  const stream = session.request({ ':path': '/' });
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => { body += chunk; });
  stream.on('end', () => {
    session.close();
    server.close();
    parentPort.postMessage({ before, replaced, after, again, http2Body: body });
  });
  stream.end();
});
`;

function runChecks(): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CHECKS, { eval: true, workerData: { module: MODULE } });
    worker.once('message', (message: Record<string, unknown>) => {
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

describe('lean AsyncResource.bind in the APNs threads', () => {
  test('when it replaces bind, then bound functions run in the same async scope with the same this, arguments and result, without the deprecated accessor, and HTTP/2 requests still work', async () => {
    const { before, replaced, after, again, http2Body } = await runChecks();
    const sameBehaviour = { store: { request: 7 }, inScope: true, self: true, args: [2, 3], returned: 5, boundThis: true, refusesNonFunctions: true };
    // Node 20 adds the deprecated accessor; a Node that no longer does needs no replacement.
    expect(before).toEqual({ ...sameBehaviour, hasDeprecatedAccessor: replaced });
    expect(after).toEqual({ ...sameBehaviour, hasDeprecatedAccessor: false });
    expect(again).toBe(false);
    expect(http2Body).toBe('ok');
    // Node 20, as in CI, adds the accessor: the bench figures depend on this.
    if (process.versions.node.split('.')[0] === '20') expect(replaced).toBe(true);
  });
});
