import { AsyncResource } from 'node:async_hooks';

type Bind = typeof AsyncResource.prototype.bind;

/**
 * Node 20's `AsyncResource.prototype.bind` gives every function it binds a deprecated
 * `asyncResource` accessor (DEP0172) built from two `util.deprecate()` wrappers, each with its own
 * prototype set at run time. `node:http2` binds one function per client request, and on the bench
 * machine that accessor cost more CPU (garbage collection included) than the rest of the request.
 * (The deprecation came with Node 20, nodejs/node#46432; removing the accessor is nodejs/node#58618.)
 *
 * The APNs threads call this at start: from then on `bind` runs `fn` in the resource's async scope
 * exactly as before, with `this` and the arguments passed through, but without the deprecated
 * accessor. Nothing in those threads reads it (node-apn, node:http2 and this project's code). It is
 * never applied on the main thread, where other libraries run. Where Node no longer adds the
 * accessor, nothing is replaced. Returns whether `bind` was replaced.
 */
export function useLeanAsyncBind(): boolean {
  const probe = new AsyncResource('safari-push-probe').bind(() => undefined);
  if (!Object.prototype.hasOwnProperty.call(probe, 'asyncResource')) return false;
  const lean = function bind(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) {
    if (typeof fn !== 'function') throw new TypeError('The "fn" argument must be of type function');
    const resource = this;
    if (thisArg !== undefined) return resource.runInAsyncScope.bind(resource, fn, thisArg);
    return function bound(this: unknown, ...args: unknown[]) {
      return resource.runInAsyncScope(fn, this, ...args);
    };
  };
  AsyncResource.prototype.bind = lean as unknown as Bind;
  return true;
}
