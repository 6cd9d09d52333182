import { quickEvents } from '../../src/audience/quick-events';
import { eventsSchema, MAX_BATCH_EVENTS } from '../../src/audience/routes';

/**
 * quickEvents checks the usual POST /api/v1/events body by hand; the schema stays the judge. For
 * every body, random and hand-picked: what quickEvents accepts the schema accepts, with the same
 * events, and the ordinary bodies are accepted by quickEvents (else it would never be used).
 */

/** A small deterministic generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const manyKeys = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
const bigValues = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
// Just under and just over the 4 KB of JSON properties may take, in ASCII and in 4-byte characters.
const nearLimit = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
const emoji = { a: '😀'.repeat(512), b: '😀'.repeat(512) };
const emojiUnder = { a: '😀'.repeat(512), b: '😀'.repeat(490) };
const POOLS: Record<string, unknown[]> = {
  name: ['viewed', 'added_to_cart', '', 'x'.repeat(64), 'x'.repeat(65), 'a\u0000b', '\ud800', 'é ü', 5, null, ['viewed']],
  userId: ['u1', 'user-42@example.com', '', 'x'.repeat(255), 'x'.repeat(256), '\udc00x', 7, null],
  token: ['ab'.repeat(32), 'AB'.repeat(32), 'x'.repeat(200), 'x'.repeat(201), '', 12],
  time: [0, -1, 1.5, 1_764_580_000_000, 8.64e15, 8.64e15 + 1, '2026-12-01T10:00:00Z', '2026-12-01T10:00:00+01:00', '2026-12-01', 'yesterday', Infinity, NaN, null, true],
  properties: [
    {},
    { price: 9.5, sku: 'SKU-1' },
    { 'bad-key': 1 },
    JSON.parse('{"__proto__": {"x": 1}}'),
    JSON.parse('{"__proto__": 1, "a": 2}'),
    { day: '2026-02-30' },
    { at: '2026-12-01T10:00:00+01:00' },
    { at: '2026-12-01T10:00:00.123456789Z' },
    { day: '1990-05-17' },
    { text: '2026-12-01 is a day' },
    { list: ['a', 'b'] },
    { list: [1] },
    { list: Array.from({ length: 101 }, () => 'a') },
    { list: ['x'.repeat(256)] },
    { s: 'x'.repeat(1024) },
    { s: 'x'.repeat(1025) },
    { s: 'a\u0000' },
    { n: null },
    { o: {} },
    { big: Infinity },
    { neg: -0 },
    { t: true, f: false },
    manyKeys,
    bigValues,
    nearLimit,
    emoji,
    emojiUnder,
    [],
    null,
    'text',
    Object.create(null),
  ],
  extra: [1, 'x', null],
};
const FIELDS = ['name', 'userId', 'token', 'time', 'properties', 'extra'];

function randomEvent(next: () => number): Record<string, unknown> {
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)];
  const event: Record<string, unknown> = {};
  for (const field of FIELDS) {
    // Mostly the ordinary shape: a name, a user or a token, sometimes a time and properties.
    const chance = { name: 0.95, userId: 0.55, token: 0.5, time: 0.4, properties: 0.6, extra: 0.03 }[field] as number;
    if (next() >= chance) continue;
    const pool = POOLS[field];
    // The first values of each pool are the good ones: taken more often.
    event[field] = next() < 0.7 ? pool[Math.floor(next() * Math.min(2, pool.length))] : pick(pool);
  }
  return event;
}

function compare(body: unknown): 'quick' | 'schema' | 'refused' {
  const quick = quickEvents(body, MAX_BATCH_EVENTS);
  const schema = eventsSchema.safeParse(body);
  if (quick !== undefined) {
    expect({ body, accepted: schema.success }).toEqual({ body, accepted: true });
    expect(quick).toEqual(schema.data?.events);
    return 'quick';
  }
  return schema.success ? 'schema' : 'refused';
}

describe('the quick check of POST /api/v1/events bodies', () => {
  test('when bodies are random, then every body it accepts the schema accepts with the same events', () => {
    const next = random(20261202);
    const seen = { quick: 0, schema: 0, refused: 0 };
    for (let i = 0; i < 20_000; i++) {
      const events = Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomEvent(next));
      seen[compare({ events })]++;
    }
    // Both sides of the comparison were exercised, many times over.
    expect(seen.quick).toBeGreaterThan(1000);
    expect(seen.refused).toBeGreaterThan(1000);
    expect(seen.schema).toBeGreaterThan(100);
  });

  test('when the body is an ordinary batch, then the quick check takes it, dates normalized as the schema does', () => {
    const body = {
      events: [
        { name: 'purchased', userId: 'u1', time: 1_764_580_000_000, properties: { price: 20.5, at: '2026-12-01T10:00:00+01:00', tags: ['a'] } },
        { name: 'viewed', token: 'ab'.repeat(32) },
      ],
    };
    expect(compare(body)).toBe('quick');
    expect(quickEvents(body, MAX_BATCH_EVENTS)?.[0].properties?.at).toBe('2026-12-01T09:00:00.000Z');
    // Near the size limit the exact size decides, as in the schema.
    expect(compare({ events: [{ name: 'a', userId: 'u', properties: nearLimit }] })).toBe('quick');
    expect(compare({ events: [{ name: 'a', userId: 'u', properties: emojiUnder }] })).toBe('quick');
    expect(compare({ events: [{ name: 'a', userId: 'u', properties: emoji }] })).toBe('refused');
  });

  test.each([
    ['not an object', []],
    ['null', null],
    ['another top-level key', { events: [{ name: 'a', userId: 'u' }], more: 1 }],
    ['no events', { events: [] }],
    ['too many events', { events: Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => ({ name: 'a', userId: 'u' })) }],
    ['events not a list', { events: { name: 'a' } }],
  ])('when the body is %s, then the quick check leaves it to the schema, which refuses it', (_, body) => {
    expect(compare(body)).toBe('refused');
  });
});
