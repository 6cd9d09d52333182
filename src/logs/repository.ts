import type { Knex } from 'knex';
import { newestFirst, type Page } from '../db/pagination';
import { boundedText } from '../db/text';

/** One error message Safari reported to `/v{n}/log`. */
export interface SafariLog {
  id: number;
  message: string;
  clientIp: string | null;
  userAgent: string | null;
  createdAt: number;
}

interface LogRow {
  id: number;
  message: string;
  client_ip: string | null;
  user_agent: string | null;
  created_at: number;
}

export interface LogRepository {
  /** Stores all messages of one report in one transaction: all or none. */
  add(messages: string[], meta: { clientIp: string | null; userAgent: string | null; now: number }): Promise<void>;
  /** Newest first; `search` keeps messages containing it (case-insensitive). */
  list(query: { limit: number; cursor?: string; search?: string }): Promise<Page<SafariLog>>;
  /** The most frequent distinct messages since `since`, with a count per UTC day. */
  summary(query: { since: number; limit: number }): Promise<MessageSummary[]>;
  /** Deletes messages logged before `before` (LOG_RETENTION_DAYS), a slice at a time; how many. */
  prune(before: number): Promise<number>;
}

/** How often one distinct message was logged, in all and per day. */
export interface MessageSummary {
  message: string;
  count: number;
  firstAt: number;
  lastAt: number;
  /** UTC days (YYYY-MM-DD) with at least one report, oldest first. */
  perDay: Array<{ day: string; count: number }>;
}

const DAY_MS = 86_400_000;
const PRUNE_SLICE = 5000;
/** LIKE treats % and _ as wildcards: a search for them means the characters. */
const likePattern = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export function createLogRepository(db: Knex): LogRepository {
  return {
    async add(messages, { clientIp, userAgent, now }) {
      const rows = messages.map((message) => ({ message: boundedText(message, 4096), client_ip: boundedText(clientIp, 64), user_agent: boundedText(userAgent, 512), created_at: now }));
      await db.transaction(async (trx) => {
        await trx('safari_logs').insert(rows);
      });
    },
    async summary({ since, limit }) {
      const top = (await db('safari_logs')
        .where('created_at', '>=', since)
        .groupBy('message')
        .select('message', db.raw('count(*) as n'), db.raw('min(created_at) as first_at'), db.raw('max(created_at) as last_at'))
        .orderBy([{ column: 'n', order: 'desc' }, { column: 'last_at', order: 'desc' }])
        .limit(limit)) as Array<{ message: string; n: number; first_at: number; last_at: number }>;
      if (top.length === 0) return [];
      const days = (await db('safari_logs')
        .where('created_at', '>=', since)
        .whereIn('message', top.map((row) => row.message))
        .groupBy('message', 'day')
        // The day length is written into the SQL: bound as a parameter, better-sqlite3 passes a JS
        // number as REAL, so the division was not an integer one and every row was a day of its own.
        .select('message', db.raw(`(created_at / ${DAY_MS}) as day`), db.raw('count(*) as n'))
        .orderBy('day')) as Array<{ message: string; day: number; n: number }>;
      return top.map((row) => ({
        message: row.message,
        count: Number(row.n),
        firstAt: Number(row.first_at),
        lastAt: Number(row.last_at),
        perDay: days
          .filter((day) => day.message === row.message)
          .map((day) => ({ day: new Date(Math.floor(Number(day.day)) * DAY_MS).toISOString().slice(0, 10), count: Number(day.n) })),
      }));
    },
    async prune(before) {
      let removed = 0;
      // Slices keep each transaction short on a large table (SQLite holds the write lock meanwhile).
      for (;;) {
        const slice = db('safari_logs').where('created_at', '<', before).orderBy('id').limit(PRUNE_SLICE).select('id');
        const deleted = await db('safari_logs').whereIn('id', slice).delete();
        removed += deleted;
        if (deleted < PRUNE_SLICE) return removed;
      }
    },
    async list(request) {
      const query = db('safari_logs').select('*');
      if (request.search) query.whereRaw("lower(message) like ? escape '\\'", [likePattern(request.search)]);
      return newestFirst<LogRow, SafariLog>(query, 'created_at', request, (row) => ({
        id: row.id,
        message: row.message,
        clientIp: row.client_ip,
        userAgent: row.user_agent,
        createdAt: Number(row.created_at),
      }));
    },
  };
}
