import { Router } from 'express';
import { z } from 'zod';
import { iso, pageQuery } from '../http/paging';
import { storedText } from '../http/text';
import { parseInput } from '../http/validate';
import type { LogRepository } from './repository';

const listQuery = pageQuery.extend({ search: storedText().min(1).max(200).optional() });
const summaryQuery = z.object({
  days: z.coerce.number().int().min(1).max(365).default(30),
  limit: z.coerce.number().int().min(1).max(200).default(20),
});

/** Admin reads of Safari's error reports; mounted behind the API key check. */
export function logAdminRouter(logs: LogRepository): Router {
  const router = Router();
  router.get('/logs/summary', async (req, res) => {
    const { days, limit } = parseInput(summaryQuery, req.query, 'query');
    const items = await logs.summary({ since: Date.now() - days * 86_400_000, limit });
    res.json({ days, items: items.map((item) => ({ ...item, firstAt: iso(item.firstAt), lastAt: iso(item.lastAt) })) });
  });
  router.get('/logs', async (req, res) => {
    const page = await logs.list(parseInput(listQuery, req.query, 'query'));
    res.json({ items: page.items.map((log) => ({ ...log, createdAt: iso(log.createdAt) })), nextCursor: page.nextCursor });
  });
  return router;
}
