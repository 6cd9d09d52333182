import { Router } from 'express';
import { iso, pageQuery } from '../http/paging';
import { parseInput } from '../http/validate';
import type { LogRepository } from './repository';

/** Admin reads of Safari's error reports; mounted behind the API key check. */
export function logAdminRouter(logs: LogRepository): Router {
  const router = Router();
  router.get('/logs', async (req, res) => {
    const page = await logs.list(parseInput(pageQuery, req.query, 'query'));
    res.json({ items: page.items.map((log) => ({ ...log, createdAt: iso(log.createdAt) })), nextCursor: page.nextCursor });
  });
  return router;
}
