import { z } from 'zod';
import { storedText } from '../http/text';

/** Attribute and event property names: what a filter and a template can name safely. */
export const NAME_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
export const MAX_ATTRIBUTES = 100;
export const MAX_STRING = 1024;
export const MAX_LIST_ITEMS = 100;
export const MAX_LIST_ITEM = 255;
/** A profile's attributes as JSON, at most (100 attributes of ordinary size fit well within it). */
export const MAX_ATTRIBUTES_BYTES = 32 * 1024;
/** An event's properties as JSON, at most. */
export const MAX_PROPERTIES_BYTES = 4 * 1024;
export const MAX_PROPERTIES = 50;

/** A typed value: string, number, boolean, date (an ISO 8601 string) or list of strings. */
export type AttributeValue = string | number | boolean | string[];

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * The stored form of a date: a date-time becomes UTC with milliseconds (`2026-12-01T09:30:00.000Z`),
 * so that dates compare as strings in SQL on both databases; a calendar date (`1990-05-17`) stays
 * as it is (it sorts before every time of its day). Undefined for a string that is not a date.
 */
export function normalizedDate(value: string): string | undefined {
  if (DATE_ONLY.test(value)) {
    const time = Date.parse(`${value}T00:00:00Z`);
    return Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== value ? undefined : value;
  }
  if (DATE_TIME.test(value)) {
    const time = Date.parse(value);
    if (Number.isNaN(time)) return undefined;
    const iso = new Date(time).toISOString();
    // Years past 9999 print with a sign and six digits: not comparable as strings.
    return iso.length === 24 ? iso : undefined;
  }
  return undefined;
}

/** A string that looks like a date must be a real one (2026-02-30 is refused, not kept as text). */
export const looksLikeDate = (value: string) => DATE_ONLY.test(value) || DATE_TIME.test(value);

const scalarString = storedText()
  .max(MAX_STRING, `strings are at most ${MAX_STRING} characters`)
  .transform((value, ctx) => {
    if (!looksLikeDate(value)) return value;
    const date = normalizedDate(value);
    if (date === undefined) {
      ctx.addIssue({ code: 'custom', message: `${value} looks like an ISO 8601 date but is not a valid one` });
      return z.NEVER;
    }
    return date;
  });

/** One attribute or property value, as the API takes it. */
export const attributeValue = z.union(
  [
    scalarString,
    z.number().refine(Number.isFinite, 'numbers must be finite'),
    z.boolean(),
    z.array(storedText().max(MAX_LIST_ITEM, `list items are at most ${MAX_LIST_ITEM} characters`)).max(MAX_LIST_ITEMS, `lists hold at most ${MAX_LIST_ITEMS} strings`),
  ],
  { error: 'a value is a string, a number, a boolean, an ISO 8601 date or a list of strings' },
);

const byteLength = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** Attributes to store (PUT and PATCH; PATCH also takes null, which removes one). */
export const attributesSchema = (nullable: boolean) =>
  z
    .record(z.string().regex(NAME_PATTERN, 'attribute names are 1 to 64 of A-Z, a-z, 0-9 and _'), nullable ? attributeValue.nullable() : attributeValue)
    .superRefine((value, ctx) => {
      if (Object.keys(value).length > MAX_ATTRIBUTES) ctx.addIssue({ code: 'custom', message: `at most ${MAX_ATTRIBUTES} attributes` });
      else if (byteLength(value) > MAX_ATTRIBUTES_BYTES) ctx.addIssue({ code: 'custom', message: `attributes take at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON` });
    });

/** An event's properties: the same values, fewer of them. */
export const propertiesSchema = z
  .record(z.string().regex(NAME_PATTERN, 'property names are 1 to 64 of A-Z, a-z, 0-9 and _'), attributeValue)
  .superRefine((value, ctx) => {
    if (Object.keys(value).length > MAX_PROPERTIES) ctx.addIssue({ code: 'custom', message: `at most ${MAX_PROPERTIES} properties` });
    else if (byteLength(value) > MAX_PROPERTIES_BYTES) ctx.addIssue({ code: 'custom', message: `properties take at most ${MAX_PROPERTIES_BYTES} bytes as JSON` });
  });

/** The IANA name of a time zone the runtime knows, in its canonical spelling, or undefined. */
export function canonicalTimezone(value: string): string | undefined {
  // Names only: Intl also takes offsets such as "+01:00", which have no daylight-saving rules.
  if (value.length > 64 || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(value)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** A BCP 47 language tag in its canonical form ("pt-br" becomes "pt-BR"), or undefined. */
export function canonicalLanguage(value: string): string | undefined {
  if (value.length > 35 || !/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,6}$/.test(value)) return undefined;
  try {
    const [tag] = Intl.getCanonicalLocales(value);
    return tag && tag.length <= 35 ? tag : undefined;
  } catch {
    return undefined;
  }
}

/** A text that must have a canonical form (`canonical` returns undefined when it has none). */
const canonicalText = (canonical: (value: string) => string | undefined, message: string) =>
  z.string().transform((value, ctx) => {
    const result = canonical(value);
    if (result === undefined) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return result;
  });

export const timezoneSchema = canonicalText(canonicalTimezone, 'timezone must be an IANA time zone name such as "Europe/Berlin"');
export const languageSchema = canonicalText(canonicalLanguage, 'language must be a BCP 47 language tag such as "de" or "pt-BR"');

/** A user id as every API takes it. */
export const userIdSchema = storedText().min(1).max(255);

/**
 * A time zone or language the browser reported: a string of bounded length (anything else is a
 * 400), kept in canonical form, or dropped (null) when it is not a real one: an odd browser must
 * not lose its subscription over a fact.
 */
export const reportedTimezone = z
  .string()
  .max(64)
  .transform((value) => canonicalTimezone(value) ?? null);
export const reportedLanguage = z
  .string()
  .max(35)
  .transform((value) => canonicalLanguage(value) ?? null);
