import { badRequest } from '../errors';
import { textProblem } from '../http/text';
import { NAME_PATTERN, normalizedDate } from './values';

/**
 * The segment filter language (docs/audience.md): JSON that says which devices a send reaches,
 * by their user's attributes, the device's own facts and what the user (or an anonymous device)
 * did. parseFilter checks a filter from outside and says where it is wrong; compileFilter turns
 * it into one SQL condition over `devices` left-joined with `profiles`, for SQLite or PostgreSQL.
 */
export type Scalar = string | number | boolean;

export type ValueOp = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'not_in' | 'contains' | 'exists' | 'not_exists' | 'before' | 'after' | 'within_last' | 'more_than_ago';

export interface Condition {
  op: ValueOp;
  /** Scalars, a list for in/not_in, a duration ("7d") for within_last/more_than_ago; absent for exists. */
  value?: Scalar | Scalar[];
}

export const DEVICE_FACTS = ['channel', 'browser', 'os', 'language', 'timezone', 'subscribedAt', 'lastSeenAt'] as const;
export type DeviceFact = (typeof DEVICE_FACTS)[number];

export type Filter =
  | { all: Filter[] }
  | { any: Filter[] }
  | { not: Filter }
  | ({ attribute: string } & Condition)
  | ({ device: DeviceFact } & Condition)
  | { event: string; where?: Array<{ property: string } & Condition>; count?: { op: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte'; value: number }; within?: string };

const VALUE_OPS: readonly ValueOp[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'exists', 'not_exists', 'before', 'after', 'within_last', 'more_than_ago'];
const TEXT_FACT_OPS: readonly ValueOp[] = ['eq', 'ne', 'in', 'not_in', 'contains', 'exists', 'not_exists'];
const TIME_FACT_OPS: readonly ValueOp[] = ['before', 'after', 'within_last', 'more_than_ago', 'gt', 'gte', 'lt', 'lte', 'exists', 'not_exists'];
const COUNT_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const;
const TIME_FACTS: readonly DeviceFact[] = ['subscribedAt', 'lastSeenAt'];

export const MAX_FILTER_DEPTH = 8;
export const MAX_FILTER_NODES = 100;
/** SQL parameters a filter may compile to (SQLite takes 32,766 a statement, PostgreSQL 65,535). */
export const MAX_FILTER_BINDINGS = 5000;
const MAX_LIST = 100;
const MAX_WHERE = 10;
const MAX_VALUE_LENGTH = 1024;

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const DURATION = /^(\d{1,6})([mhdw])$/;

/** "7d", "12h", "30m", "2w" in milliseconds, or undefined. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value);
  return match ? Number(match[1]) * UNIT_MS[match[2]] : undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const describe = (value: unknown) => JSON.stringify(value)?.slice(0, 60) ?? String(value);

class FilterError extends Error {}
const fail = (path: string, message: string): never => {
  throw new FilterError(`${path}: ${message}`);
};

function checkKeys(node: Record<string, unknown>, allowed: string[], path: string): void {
  for (const key of Object.keys(node)) if (!allowed.includes(key)) fail(path, `unknown field "${key.slice(0, 64)}" (this part takes ${allowed.join(', ')})`);
}

function checkScalar(value: unknown, path: string): Scalar {
  if (typeof value === 'number') return Number.isFinite(value) ? value : fail(path, 'numbers must be finite');
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (value.length > MAX_VALUE_LENGTH) fail(path, `strings are at most ${MAX_VALUE_LENGTH} characters`);
    const problem = textProblem(value);
    if (problem) fail(path, `the string ${problem}`);
    // Dates compare in their stored form (UTC with milliseconds).
    return normalizedDate(value) ?? value;
  }
  return fail(path, `${describe(value)} is not a string, number or boolean`);
}

/** The value of a condition, checked against what its op takes. */
function checkCondition(node: Record<string, unknown>, path: string, ops: readonly ValueOp[], kind: 'value' | 'text' | 'time'): Condition {
  const op = node.op;
  if (typeof op !== 'string' || !ops.includes(op as ValueOp)) return fail(`${path}.op`, `${describe(op)} is not an operator here (${ops.join(', ')})`);
  const value = node.value;
  const at = `${path}.value`;
  switch (op as ValueOp) {
    case 'exists':
    case 'not_exists':
      if (value !== undefined) fail(at, `${op} takes no value`);
      return { op: op as ValueOp };
    case 'in':
    case 'not_in': {
      if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST) return fail(at, `${op} takes a list of 1 to ${MAX_LIST} values`);
      return { op: op as ValueOp, value: value.map((item, i) => checkScalar(item, `${at}[${i}]`)) };
    }
    case 'within_last':
    case 'more_than_ago':
      if (durationMs(value) === undefined) fail(at, `${op} takes a duration such as "7d", "12h", "30m" or "2w"`);
      return { op: op as ValueOp, value: value as string };
    case 'before':
    case 'after':
      if (typeof value !== 'string' || normalizedDate(value) === undefined) fail(at, `${op} takes an ISO 8601 date or date-time`);
      return { op: op as ValueOp, value: normalizedDate(value as string) as string };
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const checked = checkScalar(value, at);
      if (kind === 'time') {
        if (typeof checked !== 'string' || normalizedDate(checked) === undefined) fail(at, `${op} on a time takes an ISO 8601 date or date-time`);
      } else if (typeof checked !== 'number' && (typeof checked !== 'string' || normalizedDate(checked) === undefined)) {
        fail(at, `${op} takes a number or an ISO 8601 date`);
      }
      return { op: op as ValueOp, value: checked };
    }
    case 'contains': {
      if (typeof value !== 'string' || value.length === 0) fail(at, 'contains takes a non-empty string');
      return { op: 'contains', value: checkScalar(value, at) };
    }
    default: {
      const checked = checkScalar(value, at);
      if (kind === 'text' && typeof checked !== 'string') fail(at, `${op} on this fact takes a string`);
      return { op: op as ValueOp, value: checked };
    }
  }
}

function checkName(value: unknown, path: string, what: string): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) return fail(path, `${describe(value)} is not ${what} name (1 to 64 of A-Z, a-z, 0-9 and _)`);
  return value;
}

function parseNode(node: unknown, path: string, depth: number, budget: { nodes: number }): Filter {
  if (--budget.nodes < 0) fail(path, `a filter has at most ${MAX_FILTER_NODES} parts`);
  if (depth > MAX_FILTER_DEPTH) fail(path, `a filter nests at most ${MAX_FILTER_DEPTH} levels`);
  if (!isObject(node)) return fail(path, 'each part of a filter is an object: {"all": [...]}, {"any": [...]}, {"not": ...}, {"attribute": ...}, {"device": ...} or {"event": ...}');
  if ('all' in node || 'any' in node) {
    const key = 'all' in node ? 'all' : 'any';
    checkKeys(node, [key], path);
    const list = node[key];
    if (!Array.isArray(list) || list.length === 0) return fail(`${path}.${key}`, `${key} takes a non-empty list of filters`);
    const parts = list.map((child, i) => parseNode(child, `${path}.${key}[${i}]`, depth + 1, budget));
    return key === 'all' ? { all: parts } : { any: parts };
  }
  if ('not' in node) {
    checkKeys(node, ['not'], path);
    return { not: parseNode(node.not, `${path}.not`, depth + 1, budget) };
  }
  if ('attribute' in node) {
    checkKeys(node, ['attribute', 'op', 'value'], path);
    return { attribute: checkName(node.attribute, `${path}.attribute`, 'an attribute'), ...checkCondition(node, path, VALUE_OPS, 'value') };
  }
  if ('device' in node) {
    checkKeys(node, ['device', 'op', 'value'], path);
    const fact = node.device;
    if (typeof fact !== 'string' || !DEVICE_FACTS.includes(fact as DeviceFact)) return fail(`${path}.device`, `${describe(fact)} is not a device fact (${DEVICE_FACTS.join(', ')})`);
    const time = TIME_FACTS.includes(fact as DeviceFact);
    return { device: fact as DeviceFact, ...checkCondition(node, path, time ? TIME_FACT_OPS : TEXT_FACT_OPS, time ? 'time' : 'text') };
  }
  if ('event' in node) {
    checkKeys(node, ['event', 'where', 'count', 'within'], path);
    const name = node.event;
    if (typeof name !== 'string' || name.length === 0 || name.length > 64 || textProblem(name)) return fail(`${path}.event`, 'event takes an event name of 1 to 64 characters');
    const filter: Filter = { event: name };
    if (node.where !== undefined) {
      if (!Array.isArray(node.where) || node.where.length > MAX_WHERE) return fail(`${path}.where`, `where takes a list of at most ${MAX_WHERE} property conditions`);
      filter.where = node.where.map((item, i) => {
        const at = `${path}.where[${i}]`;
        if (!isObject(item)) return fail(at, 'a property condition is {"property": ..., "op": ..., "value": ...}');
        checkKeys(item, ['property', 'op', 'value'], at);
        return { property: checkName(item.property, `${at}.property`, 'a property'), ...checkCondition(item, at, VALUE_OPS, 'value') };
      });
    }
    if (node.count !== undefined) {
      const count = node.count;
      if (!isObject(count)) return fail(`${path}.count`, 'count is {"op": "gte", "value": 1}');
      checkKeys(count, ['op', 'value'], `${path}.count`);
      if (typeof count.op !== 'string' || !(COUNT_OPS as readonly string[]).includes(count.op)) return fail(`${path}.count.op`, `${describe(count.op)} is not a count operator (${COUNT_OPS.join(', ')})`);
      if (!Number.isSafeInteger(count.value) || (count.value as number) < 0) return fail(`${path}.count.value`, 'count takes a whole number of at least 0');
      filter.count = { op: count.op as (typeof COUNT_OPS)[number], value: count.value as number };
    }
    if (node.within !== undefined) {
      if (durationMs(node.within) === undefined) return fail(`${path}.within`, 'within takes a duration such as "7d", "12h", "30m" or "2w"');
      filter.within = node.within as string;
    }
    return filter;
  }
  return fail(path, `${describe(Object.keys(node))} is not a filter: use all, any, not, attribute, device or event`);
}

/** A filter from outside, checked; a 400 invalid_filter that names the bad part otherwise. */
export function parseFilter(input: unknown, path = 'filter'): Filter {
  try {
    const filter = parseNode(input, path, 1, { nodes: MAX_FILTER_NODES });
    // Values count too: every list value and property condition becomes SQL parameters, and the
    // databases take a bounded number per statement.
    const values = Math.max(compileFilter(filter, 'sqlite', 0).bindings.length, compileFilter(filter, 'postgres', 0).bindings.length);
    if (values > MAX_FILTER_BINDINGS) fail(path, `the filter is too large: it needs ${values} SQL values, at most ${MAX_FILTER_BINDINGS} (fewer or shorter lists)`);
    return filter;
  } catch (error) {
    if (error instanceof FilterError) throw badRequest(`Invalid filter: ${error.message}`, 'invalid_filter');
    // A list or object nested deep enough to exhaust the stack is refused the same way.
    if (error instanceof RangeError) throw badRequest(`Invalid filter: ${path} nests too deeply`, 'invalid_filter');
    throw error;
  }
}

/** A piece of SQL with its `?` bindings. */
export interface Sql {
  sql: string;
  bindings: unknown[];
  /** Never NULL already (needs no COALESCE), which keeps an index usable. */
  definite?: boolean;
}

type Dialect = 'sqlite' | 'postgres';

const FACT_COLUMNS: Record<DeviceFact, string> = {
  channel: 'devices.channel',
  browser: 'devices.browser',
  os: 'devices.os',
  language: 'devices.language',
  timezone: 'devices.timezone',
  subscribedAt: 'devices.created_at',
  lastSeenAt: 'devices.last_seen_at',
};

const iso = (ms: number) => new Date(ms).toISOString();
const and = (parts: Sql[]): Sql => ({ sql: parts.map((p) => `(${p.sql})`).join(' AND '), bindings: parts.flatMap((p) => p.bindings) });
const or = (parts: Sql[]): Sql => ({ sql: parts.map((p) => `(${p.sql})`).join(' OR '), bindings: parts.flatMap((p) => p.bindings) });
const not = (part: Sql): Sql => ({ sql: `NOT (${part.sql})`, bindings: part.bindings });
/** Every leaf is made two-valued (NULL is false), so NOT and OR mean what they say. */
const definite = (part: Sql, dialect: Dialect): Sql => (part.definite ? part : { sql: `COALESCE((${part.sql}), ${dialect === 'postgres' ? 'false' : '0'})`, bindings: part.bindings });

const COMPARE: Record<'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'ne', string> = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', ne: '<>' };

/** A JSON field of a row: a profile's attribute or an event's property. */
function jsonField(dialect: Dialect, column: string, key: string) {
  const path = `$.${key}`;
  if (dialect === 'sqlite') {
    const type = (types: string[]): Sql => ({ sql: `json_type(${column}, ?) IN (${types.map(() => '?').join(', ')})`, bindings: [path, ...types] });
    return {
      exists: (): Sql => ({ sql: `json_type(${column}, ?) IS NOT NULL`, bindings: [path] }),
      // json_extract gives a JSON string as text, and a number, true or false as a number, which is
      // never equal to text: only a value that could be a list's or object's JSON needs the type test.
      string: (op: string, value: string): Sql =>
        op === '=' && !/^\s*[[{]/.test(value) ? { sql: `json_extract(${column}, ?) = ?`, bindings: [path, value] } : and([type(['text']), { sql: `json_extract(${column}, ?) ${op} ?`, bindings: [path, value] }]),
      number: (op: string, value: number): Sql => and([type(['integer', 'real']), { sql: `json_extract(${column}, ?) ${op} ?`, bindings: [path, value] }]),
      boolean: (value: boolean): Sql => type([value ? 'true' : 'false']),
      date: (op: string, value: string): Sql => and([type(['text']), { sql: `json_extract(${column}, ?) GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND json_extract(${column}, ?) ${op} ?`, bindings: [path, path, value] }]),
      contains: (value: string): Sql =>
        or([
          and([type(['text']), { sql: `instr(json_extract(${column}, ?), ?) > 0`, bindings: [path, value] }]),
          and([type(['array']), { sql: `EXISTS (SELECT 1 FROM json_each(${column}, ?) AS item WHERE item.type = 'text' AND item.value = ?)`, bindings: [path, value] }]),
        ]),
    };
  }
  // PostgreSQL: jsonb. A CASE guards each cast, because AND does not fix the order of evaluation.
  const typed = (type: string, expression: string) => `CASE WHEN jsonb_typeof(${column} -> ?::text) = '${type}' THEN ${expression} END`;
  return {
    exists: (): Sql => ({ sql: `(${column} -> ?::text) IS NOT NULL`, bindings: [key] }),
    string: (op: string, value: string): Sql => ({ sql: `${typed('string', `(${column} ->> ?::text)`)} ${op} ?`, bindings: [key, key, value] }),
    number: (op: string, value: number): Sql => ({ sql: `${typed('number', `(${column} ->> ?::text)::double precision`)} ${op} ?`, bindings: [key, key, value] }),
    boolean: (value: boolean): Sql => ({ sql: `(${column} -> ?::text) = ?::jsonb`, bindings: [key, value ? 'true' : 'false'] }),
    date: (op: string, value: string): Sql => ({ sql: `${typed('string', `(${column} ->> ?::text)`)} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' AND (${column} ->> ?::text) ${op} ?`, bindings: [key, key, key, value] }),
    contains: (value: string): Sql => ({
      sql: `CASE jsonb_typeof(${column} -> ?::text) WHEN 'string' THEN strpos(${column} ->> ?::text, ?) > 0 WHEN 'array' THEN (${column} -> ?::text) @> to_jsonb(?::text) END`,
      bindings: [key, key, value, key, value],
    }),
  };
}

/** A condition on a JSON field (attribute or property). */
function jsonCondition(dialect: Dialect, column: string, key: string, condition: Condition, now: number): Sql {
  const field = jsonField(dialect, column, key);
  const equals = (value: Scalar): Sql => {
    if (typeof value === 'boolean') return field.boolean(value);
    if (typeof value === 'number') return field.number('=', value);
    // A list attribute equals a string it holds only through contains; eq is the whole value.
    return field.string('=', value);
  };
  const { op, value } = condition;
  switch (op) {
    case 'exists':
      return field.exists();
    case 'not_exists':
      return not(definite(field.exists(), dialect));
    case 'eq':
      return equals(value as Scalar);
    case 'ne':
      return not(definite(equals(value as Scalar), dialect));
    case 'in':
      return or((value as Scalar[]).map((v) => definite(equals(v), dialect)));
    case 'not_in':
      return not(or((value as Scalar[]).map((v) => definite(equals(v), dialect))));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return typeof value === 'number' ? field.number(COMPARE[op], value) : field.date(COMPARE[op], value as string);
    case 'contains':
      return field.contains(value as string);
    case 'before':
      return field.date('<', value as string);
    case 'after':
      return field.date('>', value as string);
    case 'within_last':
      return and([field.date('>=', iso(now - (durationMs(value) as number))), field.date('<=', iso(now))]);
    case 'more_than_ago':
      return field.date('<', iso(now - (durationMs(value) as number)));
  }
}

/** A condition on a device fact (a text or a time column of devices). */
function factCondition(dialect: Dialect, fact: DeviceFact, condition: Condition, now: number): Sql {
  const column = FACT_COLUMNS[fact];
  const { op, value } = condition;
  if (op === 'exists') return { sql: `${column} IS NOT NULL`, bindings: [] };
  if (op === 'not_exists') return { sql: `${column} IS NULL`, bindings: [] };
  if (TIME_FACTS.includes(fact)) {
    const at = (ms: number, sign: string): Sql => ({ sql: `${column} ${sign} ?`, bindings: [ms] });
    switch (op) {
      case 'before':
        return at(Date.parse(value as string), '<');
      case 'after':
        return at(Date.parse(value as string), '>');
      case 'within_last':
        return and([at(now - (durationMs(value) as number), '>='), at(now, '<=')]);
      case 'more_than_ago':
        return at(now - (durationMs(value) as number), '<');
      default:
        return at(Date.parse(value as string), COMPARE[op as 'gt']);
    }
  }
  // A language "de" is every German: de, de-DE, de-AT...
  const equals = (v: string): Sql =>
    fact === 'language' && !v.includes('-') ? { sql: `(${column} = ? OR ${column} LIKE ?)`, bindings: [v, `${v.replace(/[%_\\]/g, '')}-%`] } : { sql: `${column} = ?`, bindings: [v] };
  switch (op) {
    case 'eq':
      return equals(value as string);
    case 'ne':
      return not(definite(equals(value as string), dialect));
    case 'in':
      return or((value as Scalar[]).map((v) => equals(String(v))));
    case 'not_in':
      return not(definite(or((value as Scalar[]).map((v) => equals(String(v)))), dialect));
    case 'contains':
      return dialect === 'postgres' ? { sql: `strpos(${column}, ?) > 0`, bindings: [value] } : { sql: `instr(${column}, ?) > 0`, bindings: [value] };
    default:
      throw new Error(`unreachable: ${op} on ${fact}`);
  }
}

/** Whether `count` events satisfy the condition. */
function countHolds(count: number, condition: { op: keyof typeof COMPARE; value: number }): boolean {
  const v = condition.value;
  return { gt: count > v, gte: count >= v, lt: count < v, lte: count <= v, eq: count === v, ne: count !== v }[condition.op];
}

/**
 * How many events of a name the device's user (or, for an anonymous device, the device itself)
 * has, compared as `count` says. Compiled as a semi-join: one range of the (name, time) index
 * gives the users (or devices) in question, and each device is looked up among them, instead of
 * a lookup of events per device. A condition that zero events satisfy ("did not", `lt 3`) is
 * the complement of the users whose events break it. Only events up to `now` count, so a target
 * fixed at a time stays fixed.
 */
function eventCondition(dialect: Dialect, filter: Extract<Filter, { event: string }>, now: number): Sql {
  const parts: Sql[] = [{ sql: 'e.name = ?', bindings: [filter.event] }, { sql: 'e.time <= ?', bindings: [now] }];
  if (filter.within) parts.push({ sql: 'e.time > ?', bindings: [now - (durationMs(filter.within) as number)] });
  for (const condition of filter.where ?? []) parts.push(definite(jsonCondition(dialect, 'e.properties', condition.property, condition, now), dialect));
  const where = and(parts);
  const count = filter.count ?? { op: 'gte', value: 1 };
  const zeroHolds = countHolds(0, count);
  // "Did" and "did not": the devices of users with such an event, and the devices with such an
  // event of their own, as one list of device ids. A top-level IN over the row id lets the
  // database start from the (usually few) devices in the list instead of reading every device.
  if ((count.op === 'gte' && count.value === 1) || (count.op === 'eq' && count.value === 0) || (count.op === 'lt' && count.value === 1)) {
    // PostgreSQL turns a top-level IN into a hash semi-join, on an expression too: one key space
    // for users and anonymous devices ('u:' and 'd:' keep them apart) gives it one to make.
    if (dialect === 'postgres') {
      return {
        sql: `(CASE WHEN devices.user_id IS NOT NULL THEN 'u:' || devices.user_id ELSE 'd:' || devices.id END) ${zeroHolds ? 'NOT IN' : 'IN'} (SELECT 'u:' || e.user_id FROM events e WHERE e.user_id IS NOT NULL AND ${where.sql} UNION ALL SELECT 'd:' || e.device_id FROM events e WHERE e.user_id IS NULL AND e.device_id IS NOT NULL AND ${where.sql})`,
        bindings: [...where.bindings, ...where.bindings],
        definite: true,
      };
    }
    return {
      sql: `devices.id ${zeroHolds ? 'NOT IN' : 'IN'} (SELECT d.id FROM devices d WHERE d.user_id IN (SELECT e.user_id FROM events e WHERE e.user_id IS NOT NULL AND ${where.sql}) UNION ALL SELECT e.device_id FROM events e WHERE e.user_id IS NULL AND e.device_id IS NOT NULL AND ${where.sql})`,
      bindings: [...where.bindings, ...where.bindings],
      definite: true,
    };
  }
  // The subjects whose count holds (or, when zero holds, whose count breaks it): "at least one" needs no grouping.
  const having = (column: string): Sql =>
    count.op === 'gte' && count.value === 1
      ? { sql: '', bindings: [] }
      : zeroHolds && count.op === 'eq' && count.value === 0
        ? { sql: '', bindings: [] }
        : { sql: ` GROUP BY ${column} HAVING ${zeroHolds ? 'NOT ' : ''}(count(*) ${COMPARE[count.op]} ?)`, bindings: [count.value] };
  const users = having('e.user_id');
  const devicesHaving = having('e.device_id');
  const inUsers: Sql = { sql: `SELECT e.user_id FROM events e WHERE e.user_id IS NOT NULL AND ${where.sql}${users.sql}`, bindings: [...where.bindings, ...users.bindings] };
  const inDevices: Sql = { sql: `SELECT e.device_id FROM events e WHERE e.user_id IS NULL AND e.device_id IS NOT NULL AND ${where.sql}${devicesHaving.sql}`, bindings: [...where.bindings, ...devicesHaving.bindings] };
  const membership = zeroHolds ? 'NOT IN' : 'IN';
  return {
    sql: `(devices.user_id IS NOT NULL AND devices.user_id ${membership} (${inUsers.sql})) OR (devices.user_id IS NULL AND devices.id ${membership} (${inDevices.sql}))`,
    bindings: [...inUsers.bindings, ...inDevices.bindings],
  };
}

/**
 * The filter as one SQL condition over `devices LEFT JOIN profiles ON profiles.user_id =
 * devices.user_id`. `now` fixes every relative time ("within the last 7 days"). Every leaf is
 * two-valued, so a device without a profile simply has no attributes.
 */
export function compileFilter(filter: Filter, dialect: Dialect, now: number): Sql {
  if ('all' in filter) return and(filter.all.map((f) => compileFilter(f, dialect, now)));
  if ('any' in filter) return or(filter.any.map((f) => compileFilter(f, dialect, now)));
  if ('not' in filter) return not(compileFilter(filter.not, dialect, now));
  if ('attribute' in filter) return definite(jsonCondition(dialect, 'profiles.attributes', filter.attribute, filter, now), dialect);
  if ('device' in filter) return definite(factCondition(dialect, filter.device, filter, now), dialect);
  return definite(eventCondition(dialect, filter, now), dialect);
}
