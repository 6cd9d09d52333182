import { textProblem } from '../http/text';
import { looksLikeDate, MAX_LIST_ITEM, MAX_LIST_ITEMS, MAX_PROPERTIES, MAX_PROPERTIES_BYTES, MAX_STRING, NAME_PATTERN, normalizedDate, type AttributeValue } from './values';

/** An event of POST /api/v1/events as the route uses it (what eventsSchema gives, too). */
export interface ParsedEvent {
  name: string;
  userId?: string;
  token?: string;
  time?: number;
  properties?: Record<string, AttributeValue>;
}

const EVENT_KEYS = new Set(['name', 'userId', 'token', 'time', 'properties']);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown, min: number, max: number): value is string => typeof value === 'string' && value.length >= min && value.length <= max && textProblem(value) === undefined;

/** A property value in stored form, or undefined when the schema must look at it. */
function quickValue(value: unknown): AttributeValue | undefined {
  if (typeof value === 'string') {
    if (!isText(value, 0, MAX_STRING)) return undefined;
    // A string that looks like a date is normalized as in the schema (undefined: not a real date).
    return looksLikeDate(value) ? normalizedDate(value) : value;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    if (value.length > MAX_LIST_ITEMS) return undefined;
    for (const item of value) if (!isText(item, 0, MAX_LIST_ITEM)) return undefined;
    return value as string[];
  }
  return undefined;
}

/** At least the bytes of `value` as JSON (see the properties' bound below). */
function jsonBound(value: AttributeValue): number {
  if (typeof value === 'string') return 6 * value.length + 2;
  if (typeof value === 'number') return 24;
  if (typeof value === 'boolean') return 5;
  let bytes = 2;
  for (const item of value) bytes += 6 * item.length + 3;
  return bytes;
}

/**
 * The events of a POST /api/v1/events body checked without zod, for the shape nearly every call
 * has: a body the schema (eventsSchema in routes.ts) accepts gives the same events here, or
 * undefined, and then the schema decides and words the 400. Undefined for anything unusual (a time
 * as text, a `__proto__` property, any problem at all): this never accepts what the schema refuses
 * (test/audience/quick-events.test.ts compares the two). Written because zod took about 40% of the
 * route's CPU for a batch of 100 events.
 */
export function quickEvents(body: unknown, maxEvents: number): ParsedEvent[] | undefined {
  if (!isObject(body)) return undefined;
  for (const key in body) if (key !== 'events') return undefined;
  const events = body.events;
  if (!Array.isArray(events) || events.length < 1 || events.length > maxEvents) return undefined;
  const parsed: ParsedEvent[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const event: unknown = events[i];
    if (!isObject(event)) return undefined;
    for (const key in event) if (!EVENT_KEYS.has(key)) return undefined;
    const { name, userId, token, time, properties } = event;
    if (!isText(name, 1, 64)) return undefined;
    if (userId !== undefined && !isText(userId, 1, 255)) return undefined;
    if (token !== undefined && !isText(token, 0, 200)) return undefined;
    if ((userId === undefined) === (token === undefined)) return undefined;
    if (time !== undefined && !(typeof time === 'number' && Number.isInteger(time) && time >= 0 && time <= 8.64e15)) return undefined;
    const out: ParsedEvent = { name };
    if (userId !== undefined) out.userId = userId;
    if (token !== undefined) out.token = token;
    if (time !== undefined) out.time = time;
    if (properties !== undefined) {
      if (!isObject(properties) || Object.getPrototypeOf(properties) !== Object.prototype) return undefined;
      const values: Record<string, AttributeValue> = {};
      let count = 0;
      // An upper bound of the properties' JSON size in bytes, so that ordinary ones are not
      // stringified just to be measured: a UTF-16 unit of a string takes at most 6 bytes in JSON
      // (\uXXXX), a number at most 24 characters, a key its length plus quotes, colon and comma.
      let bound = 2;
      for (const key in properties) {
        if (!Object.hasOwn(properties, key) || key === '__proto__' || !NAME_PATTERN.test(key) || ++count > MAX_PROPERTIES) return undefined;
        const value = quickValue(properties[key]);
        if (value === undefined) return undefined;
        values[key] = value;
        bound += key.length + 4 + jsonBound(value);
      }
      if (bound > MAX_PROPERTIES_BYTES && Buffer.byteLength(JSON.stringify(values)) > MAX_PROPERTIES_BYTES) return undefined;
      out.properties = values;
    }
    parsed[i] = out;
  }
  return parsed;
}
