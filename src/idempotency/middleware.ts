import crypto from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { IdempotencyStore } from './store';

/** What a handler behind `idempotent()` may do with its key. */
export interface IdempotencyHandle {
  /**
   * Records the answer a retry gets as soon as the side effect is committed (a create), before
   * the handler's own answer, which may come much later or never (a client that hung up).
   */
  record(status: number, body: unknown): Promise<void>;
  /** Gives the key back after all (the side effect was undone): a retry runs again. */
  forget(): Promise<void>;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

/** The handle of the current request, when it came with an Idempotency-Key. */
export function idempotencyOf(res: Response): IdempotencyHandle | undefined {
  return res.locals.idempotency as IdempotencyHandle | undefined;
}

/**
 * `Idempotency-Key` for a create endpoint (after its body parser). The same key with the same
 * request (method, path, query and JSON body) within 24 hours gets the first answer again, with
 * `Idempotent-Replayed: true`, and does nothing; the same key with another request is a 422
 * `idempotency_key_reused`; while the first is still under way, 409 `idempotency_key_in_progress`.
 * Only 2xx answers are kept: after a 4xx or 5xx the key is free again, so a corrected retry runs.
 */
export function idempotent(store: IdempotencyStore, scope: string, clock: Clock, logger: Logger): RequestHandler {
  return async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (key === undefined) return next();
    if (!KEY.test(key)) return next(new AppError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 visible ASCII characters'));
    const query = Object.entries(req.query as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    let canonical: string;
    try {
      canonical = JSON.stringify([req.method, req.path, query, req.body ?? null]);
    } catch {
      // Only a body nested thousands of levels deep makes JSON.stringify run out of stack.
      return next(new AppError(400, 'invalid_body', 'The body nests too deeply'));
    }
    const hash = crypto.createHash('sha256').update(canonical).digest('hex');
    const claim = await store.claim(scope, key, hash, clock.now());
    if (claim.kind === 'mismatch') {
      return next(new AppError(422, 'idempotency_key_reused', 'This Idempotency-Key was used with a different request within the last 24 hours: use a new key for a new request'));
    }
    if (claim.kind === 'in-progress') {
      res.set('Retry-After', '1');
      return next(new AppError(409, 'idempotency_key_in_progress', 'A request with this Idempotency-Key is still being handled: retry shortly'));
    }
    if (claim.kind === 'replay') {
      res.set('Idempotent-Replayed', 'true').status(claim.status).json(claim.body);
      return;
    }
    let recorded = false;
    const handle: IdempotencyHandle = {
      async record(status, body) {
        recorded = true;
        await store.complete(scope, key, claim.claimedAt, status, body);
      },
      async forget() {
        await store.forget(scope, key, claim.claimedAt);
      },
    };
    res.locals.idempotency = handle;
    // The handler's own answer is what the key keeps (or, for an error, the key is given back).
    const send = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const kept = status >= 200 && status < 300 ? store.complete(scope, key, claim.claimedAt, status, body) : recorded ? Promise.resolve() : store.release(scope, key, claim.claimedAt);
      void kept.then(
        () => send(body),
        (error: unknown) => {
          logger.error({ err: error }, 'Could not store the answer of an Idempotency-Key');
          send(body);
        },
      );
      return res;
    };
    next();
  };
}
