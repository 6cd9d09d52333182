import type { Knex } from 'knex';
import { newestFirst, type Page } from '../db/pagination';

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
  /** Newest first. */
  list(query: { limit: number; cursor?: string }): Promise<Page<SafariLog>>;
}

export function createLogRepository(db: Knex): LogRepository {
  return {
    async add(messages, { clientIp, userAgent, now }) {
      const rows = messages.map((message) => ({ message, client_ip: clientIp, user_agent: userAgent, created_at: now }));
      await db.transaction(async (trx) => {
        await trx('safari_logs').insert(rows);
      });
    },
    async list(request) {
      return newestFirst<LogRow, SafariLog>(db('safari_logs').select('*'), 'created_at', request, (row) => ({
        id: row.id,
        message: row.message,
        clientIp: row.client_ip,
        userAgent: row.user_agent,
        createdAt: Number(row.created_at),
      }));
    },
  };
}
