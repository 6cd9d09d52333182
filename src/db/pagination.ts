import type { Knex } from 'knex';
import { badRequest } from '../errors';

/** A position in a newest-first listing: the sort time and the row id that breaks ties. */
export interface Cursor {
  at: number;
  id: number | string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Opaque to clients: base64url of `[at, id]`. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.at, cursor.id])).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Largest value of an `increments` (int4) column in PostgreSQL: a larger id in a cursor would be a database error. */
const MAX_INT4 = 2_147_483_647;

/** Row ids are integers (serial columns), big integers (bigserial) or UUIDs; a cursor must carry the kind its listing uses. */
export type IdKind = 'integer' | 'bigint' | 'uuid';

export function decodeCursor(raw: string, idKind: IdKind = 'integer'): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && value[0] >= 0) {
      const id: unknown = value[1];
      if (idKind !== 'uuid' && Number.isSafeInteger(id) && (id as number) >= 0 && (idKind === 'bigint' || (id as number) <= MAX_INT4)) return { at: value[0], id: id as number };
      if (idKind === 'uuid' && typeof id === 'string' && UUID.test(id)) return { at: value[0], id };
    }
  } catch {
    // fall through to the 400 below
  }
  throw badRequest('cursor is not one this service issued', 'invalid_cursor');
}

/**
 * Runs `query` newest first by `column` (then id), one page after `cursor`. Keyset pagination:
 * a page costs the same however deep it is, and rows inserted meanwhile do not shift it.
 */
export async function newestFirst<Row extends { id: number | string }, T>(
  query: Knex.QueryBuilder,
  column: string & keyof Row,
  request: { limit: number; cursor?: string },
  map: (row: Row) => T,
  idKind: IdKind = 'integer',
): Promise<Page<T>> {
  query.orderBy([
    { column, order: 'desc' },
    { column: 'id', order: 'desc' },
  ]);
  if (request.cursor) {
    const { at, id } = decodeCursor(request.cursor, idKind);
    query.where((q) => q.where(column, '<', at).orWhere((same) => same.where(column, '=', at).andWhere('id', '<', id)));
  }
  const rows = (await query.limit(request.limit + 1)) as Row[];
  const last = rows[request.limit - 1];
  return {
    items: rows.slice(0, request.limit).map(map),
    nextCursor: rows.length > request.limit && last ? encodeCursor({ at: Number(last[column]), id: idKind === 'bigint' ? Number(last.id) : last.id }) : null,
  };
}
