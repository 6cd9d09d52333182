import { inputValue, replaceAt } from './ui';

/** One row of the filter builder: an attribute, a device fact, or whether the user did an event. */
export interface Condition {
  kind: 'attribute' | 'device' | 'event';
  name: string;
  op: string;
  value: string;
  /** Events: did it (at least once) or did not. */
  did: 'did' | 'did_not';
  within: string;
}

export interface Fields {
  attributes: Array<{ name: string; type: string }>;
  deviceFacts: string[];
  events: string[];
}

const ATTRIBUTE_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'contains', 'exists', 'not_exists', 'before', 'after', 'within_last', 'more_than_ago'];
/** What the filter language takes for each kind of device fact: text facts, and the two times. */
const TEXT_FACT_OPS = ['eq', 'ne', 'in', 'not_in', 'contains', 'exists', 'not_exists'];
const TIME_FACT_OPS = ['within_last', 'more_than_ago', 'before', 'after', 'gt', 'gte', 'lt', 'lte', 'exists', 'not_exists'];
const TIME_FACTS = new Set(['subscribedAt', 'lastSeenAt']);
const opsFor = (c: Condition) => (c.kind === 'attribute' ? ATTRIBUTE_OPS : TIME_FACTS.has(c.name) ? TIME_FACT_OPS : TEXT_FACT_OPS);
const OP_WORDS: Record<string, string> = {
  eq: 'is',
  ne: 'is not',
  gt: '>',
  gte: '≥',
  lt: '<',
  lte: '≤',
  in: 'is one of',
  not_in: 'is none of',
  contains: 'contains',
  exists: 'is set',
  not_exists: 'is not set',
  before: 'is before',
  after: 'is after',
  within_last: 'within the last',
  more_than_ago: 'more than … ago',
};
const NO_VALUE = new Set(['exists', 'not_exists']);

export const newCondition = (kind: Condition['kind'] = 'attribute'): Condition => ({ kind, name: '', op: 'eq', value: '', did: 'did', within: '7d' });

/** A typed value for the filter language: numbers and booleans for such attributes, lists for in/not_in. */
function valueOf(condition: Condition, type: string | undefined): unknown {
  const one = (text: string): unknown => {
    const trimmed = text.trim();
    if (type === 'number' && trimmed !== '' && Number.isFinite(Number(trimmed))) return Number(trimmed);
    if (type === 'boolean' && (trimmed === 'true' || trimmed === 'false')) return trimmed === 'true';
    if (['gt', 'gte', 'lt', 'lte'].includes(condition.op) && trimmed !== '' && Number.isFinite(Number(trimmed))) return Number(trimmed);
    return trimmed;
  };
  if (condition.op === 'in' || condition.op === 'not_in') return condition.value.split(',').map(one).filter((v) => v !== '');
  return one(condition.value);
}

/** The filter in the segment language: {"all"|"any": [...]}. Undefined while no row is complete. */
export function toFilter(match: 'all' | 'any', conditions: Condition[], fields: Fields): Record<string, unknown> | undefined {
  const parts = conditions
    .filter((c) => c.name.trim() !== '')
    .map((c) => {
      if (c.kind === 'event') return { event: c.name.trim(), ...(c.within ? { within: c.within } : {}), ...(c.did === 'did_not' ? { count: { op: 'eq', value: 0 } } : {}) };
      const key = c.kind === 'attribute' ? 'attribute' : 'device';
      const type = c.kind === 'attribute' ? fields.attributes.find((a) => a.name === c.name)?.type : undefined;
      return { [key]: c.name.trim(), op: c.op, ...(NO_VALUE.has(c.op) ? {} : { value: valueOf(c, type) }) };
    });
  return parts.length === 0 ? undefined : { [match]: parts };
}

/** Rows back from a filter of one level, when it is one (otherwise the JSON is edited as text). */
export function fromFilter(filter: unknown): { match: 'all' | 'any'; conditions: Condition[] } | undefined {
  if (!filter || typeof filter !== 'object') return undefined;
  const match = 'all' in filter ? 'all' : 'any' in filter ? 'any' : undefined;
  const list = match ? (filter as Record<string, unknown>)[match] : undefined;
  if (!match || !Array.isArray(list)) return undefined;
  const conditions: Condition[] = [];
  for (const part of list as Array<Record<string, unknown>>) {
    if (typeof part.attribute === 'string' || typeof part.device === 'string') {
      const value = Array.isArray(part.value) ? part.value.join(', ') : part.value === undefined ? '' : String(part.value);
      conditions.push({ ...newCondition(part.attribute ? 'attribute' : 'device'), name: String(part.attribute ?? part.device), op: String(part.op), value });
    } else if (typeof part.event === 'string' && !part.where) {
      const count = part.count as { op: string; value: number } | undefined;
      if (count && !(count.op === 'eq' && count.value === 0)) return undefined;
      conditions.push({ ...newCondition('event'), name: part.event, within: typeof part.within === 'string' ? part.within : '', did: count ? 'did_not' : 'did' });
    } else return undefined;
  }
  return { match, conditions };
}

/** The builder: rows of conditions over attributes, device facts and events, all or any. */
export function FilterBuilder(props: { match: 'all' | 'any'; conditions: Condition[]; fields: Fields; onChange: (match: 'all' | 'any', conditions: Condition[]) => void }) {
  const { match, conditions, fields, onChange } = props;
  const set = (index: number, change: Partial<Condition>) => onChange(match, replaceAt(conditions, index, change));
  return (
    <fieldset class="filter">
      <legend>Who</legend>
      <label class="field inline">
        <span>Match</span>
        <select value={match} onChange={(e) => onChange(inputValue(e) as 'all' | 'any', conditions)}>
          <option value="all">all of these</option>
          <option value="any">any of these</option>
        </select>
      </label>
      <ol class="conditions">
        {conditions.map((c, i) => (
          <li key={i} class="condition">
            <label class="field">
              <span>Condition {i + 1}</span>
              <select value={c.kind} onChange={(e) => set(i, { ...newCondition(inputValue(e) as Condition['kind']) })}>
                <option value="attribute">Attribute</option>
                <option value="device">Device</option>
                <option value="event">Event</option>
              </select>
            </label>
            {c.kind === 'event' ? (
              <>
                <label class="field">
                  <span>Did or did not</span>
                  <select value={c.did} onChange={(e) => set(i, { did: inputValue(e) as Condition['did'] })}>
                    <option value="did">did</option>
                    <option value="did_not">did not</option>
                  </select>
                </label>
                <label class="field">
                  <span>Event</span>
                  <input list="event-names" value={c.name} onInput={(e) => set(i, { name: inputValue(e) })} placeholder="added_to_cart" />
                </label>
                <label class="field">
                  <span>Within the last</span>
                  <input value={c.within} onInput={(e) => set(i, { within: inputValue(e) })} placeholder="7d" size={5} />
                </label>
              </>
            ) : (
              <>
                <label class="field">
                  <span>{c.kind === 'attribute' ? 'Attribute' : 'Fact'}</span>
                  {c.kind === 'attribute' ? (
                    <input list="attribute-names" value={c.name} onInput={(e) => set(i, { name: inputValue(e) })} placeholder="plan" />
                  ) : (
                    <select value={c.name} onChange={(e) => { const name = inputValue(e); set(i, { name, op: TIME_FACTS.has(name) ? 'within_last' : 'eq' }); }}>
                      <option value="">choose…</option>
                      {fields.deviceFacts.map((f) => <option value={f} key={f}>{f}</option>)}
                    </select>
                  )}
                </label>
                <label class="field">
                  <span>Operator</span>
                  <select value={c.op} onChange={(e) => set(i, { op: inputValue(e) })}>
                    {opsFor(c).map((op) => <option value={op} key={op}>{OP_WORDS[op]}</option>)}
                  </select>
                </label>
                {!NO_VALUE.has(c.op) && (
                  <label class="field">
                    <span>Value</span>
                    <input value={c.value} onInput={(e) => set(i, { value: inputValue(e) })} placeholder={c.op === 'in' || c.op === 'not_in' ? 'a, b, c' : ''} />
                  </label>
                )}
              </>
            )}
            <button type="button" class="link" aria-label={`Remove condition ${i + 1}`} onClick={() => onChange(match, conditions.filter((_, j) => j !== i))}>
              Remove
            </button>
          </li>
        ))}
      </ol>
      <button type="button" onClick={() => onChange(match, [...conditions, newCondition()])}>Add condition</button>
    </fieldset>
  );
}
