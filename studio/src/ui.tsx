import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export const fmt = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));
export const pct = (n: number | null | undefined, digits = 1) => (n === null || n === undefined ? '–' : `${(n * 100).toFixed(digits)}%`);
/** "Monday, 14 December 2026 at 09:00", in `zone`: how the next occurrences are listed. */
export const inWords = (iso: string, zone: string) =>
  new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: zone }).format(new Date(iso));
export const when = (iso: string | null | undefined, zone?: string) =>
  iso ? new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', ...(zone ? { timeZone: zone } : {}) }).format(new Date(iso)) : '–';

/**
 * Runs `effect` once `deps` have stood still for `ms` (typing). `current()` tells the effect whether
 * it is still the latest run: an answer that comes after a newer request's is dropped.
 */
export function useDebounced(effect: (current: () => boolean) => void | Promise<void>, deps: unknown[], ms = 350): void {
  const latest = useRef(effect);
  const runs = useRef(0);
  latest.current = effect;
  useEffect(() => {
    const timer = setTimeout(() => {
      const run = ++runs.current;
      void latest.current(() => run === runs.current);
    }, ms);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

export const inputValue = (event: Event) => (event.target as HTMLInputElement).value;

/** `list` with its item at `index` changed: how the form's rows (conditions, buttons, variants) are edited. */
export const replaceAt = <T,>(list: T[], index: number, change: Partial<T>): T[] => list.map((item, i) => (i === index ? { ...item, ...change } : item));

export function Field(props: { label: string; children: ComponentChildren; hint?: string; wide?: boolean }) {
  return (
    <label class={props.wide ? 'field wide' : 'field'}>
      <span>{props.label}</span>
      {props.children}
      {props.hint && <small>{props.hint}</small>}
    </label>
  );
}

/** A labelled choice among fixed options, each `[value, text]`; the value comes back with its type. */
export function Choice<T extends string>(props: { label: string; value: T; options: Array<[T, string]>; onChange: (value: T) => void }) {
  return (
    <Field label={props.label}>
      <select value={props.value} onChange={(e) => props.onChange(inputValue(e) as T)}>
        {props.options.map(([value, text]) => (
          <option value={value} key={value}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );
}

export function Problems(props: { items: string[]; label?: string }) {
  if (props.items.length === 0) return null;
  return (
    <ul class="problems" role="alert" aria-label={props.label ?? 'Problems'}>
      {props.items.map((item) => (
        <li key={item}>{item}</li>
      ))}
    </ul>
  );
}

export function Section(props: { title: string; id: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-labelledby={`${props.id}-title`} id={props.id}>
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.children}
    </section>
  );
}

export const STATUS_LABEL: Record<string, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  running: 'Running',
  paused: 'Paused',
  completed: 'Completed',
  cancelled: 'Cancelled',
};
