import { Router, type RequestHandler } from 'express';
import type { Db } from '../db/connection';
import type { Metrics } from '../metrics/metrics';

/** Liveness, readiness and metrics: the operator's endpoints. */
export function operationsRouter(deps: { db: Db; state: { shuttingDown: boolean }; metrics: Metrics; metricsGuard?: RequestHandler }): Router {
  const router = Router();
  // Alive while the process can answer at all.
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready when the database answers and no shutdown has begun: load balancers stop sending traffic first.
  router.get('/readyz', async (_req, res) => {
    if (deps.state.shuttingDown) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    try {
      await deps.db.raw('select 1');
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database_unreachable' });
    }
  });
  const guard: RequestHandler = deps.metricsGuard ?? ((_req, _res, next) => next());
  router.get('/metrics', guard, async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
