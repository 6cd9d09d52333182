import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type Campaign, type Message } from './api';
import { FilterBuilder, fromFilter, newCondition, toFilter, type Condition, type Fields } from './filter';
import { ChromeNotification, SafariNotification, type ChannelPreview } from './preview';
import { Choice, Field, Problems, Section, inWords, inputValue, replaceAt, useDebounced } from './ui';

type Kind = 'all' | 'segment' | 'filter' | 'users' | 'json';
/** json: any schedule the form has no fields for (a date reminder, a rule's start and end), as the API takes it. */
type ScheduleType = 'now' | 'at' | 'dates' | 'recurring' | 'event' | 'json';

interface Draft {
  name: string;
  labels: string;
  message: { title: string; body: string; urlArgs: string; action: string; url: string; image: string; icon: string; requireInteraction: boolean; buttons: Array<{ title: string; url: string }> };
  audience: { kind: Kind; segment: string; users: string; match: 'all' | 'any'; conditions: Condition[]; json: string };
  schedule: {
    type: ScheduleType;
    at: string;
    dates: string;
    rrule: string;
    timezone: string;
    localTime: boolean;
    fallbackTimezone: string;
    event: string;
    delay: string;
    unlessEvent: string;
    unlessWithin: string;
    reentry: string;
    json: string;
  };
  rules: { quiet: 'default' | 'off' | 'custom'; from: string; to: string; policy: 'delay' | 'discard'; caps: 'respect' | 'ignore'; throttle: string; cutoff: string };
  measure: {
    control: string;
    goalEvent: string;
    goalWithin: string;
    revenueProperty: string;
    goalAfter: 'sent' | 'click';
    variants: Array<{ name: string; weight: string; title: string; body: string }>;
    winner: boolean;
    winnerMetric: 'clicks' | 'conversions';
    winnerAfter: string;
    testPercent: string;
  };
}

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const emptyDraft = (): Draft => ({
  name: '',
  labels: '',
  message: { title: '', body: '', urlArgs: '', action: '', url: '', image: '', icon: '', requireInteraction: false, buttons: [] },
  audience: { kind: 'all', segment: '', users: '', match: 'all', conditions: [newCondition()], json: '' },
  schedule: { type: 'at', at: '', dates: '', rrule: 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0', timezone: browserZone(), localTime: false, fallbackTimezone: '', event: '', delay: '10m', unlessEvent: '', unlessWithin: '10m', reentry: 'once', json: '' },
  rules: { quiet: 'default', from: '21:00', to: '09:00', policy: 'delay', caps: 'respect', throttle: '', cutoff: '' },
  measure: { control: '', goalEvent: '', goalWithin: '1d', revenueProperty: '', goalAfter: 'sent', variants: [], winner: false, winnerMetric: 'clicks', winnerAfter: '4h', testPercent: '20' },
});

const list = (text: string) => text.split(',').map((part) => part.trim()).filter(Boolean);

/** The message as the API takes it: empty optional fields left out. */
function messageOf(m: Draft['message']): Message {
  return {
    title: m.title,
    body: m.body,
    urlArgs: m.urlArgs.split(',').map((a) => a.trim()),
    ...(m.urlArgs.trim() === '' ? { urlArgs: [] } : {}),
    ...(m.action ? { action: m.action } : {}),
    ...(m.url ? { url: m.url } : {}),
    ...(m.image ? { image: m.image } : {}),
    ...(m.icon ? { icon: m.icon } : {}),
    ...(m.requireInteraction ? { requireInteraction: true } : {}),
    ...(m.buttons.length > 0 ? { actions: m.buttons } : {}),
  };
}

function audienceOf(a: Draft['audience'], fields: Fields): Record<string, unknown> {
  if (a.kind === 'segment') return { segment: a.segment };
  if (a.kind === 'users') return { users: list(a.users) };
  if (a.kind === 'json') return { filter: JSON.parse(a.json || 'null') as unknown };
  if (a.kind === 'filter') return { filter: toFilter(a.match, a.conditions, fields) ?? {} };
  return { all: true };
}

function scheduleOf(s: Draft['schedule']): Record<string, unknown> {
  if (s.type === 'json') {
    try {
      return JSON.parse(s.json || 'null') as Record<string, unknown>;
    } catch {
      return { type: 'invalid JSON' };
    }
  }
  const local = s.localTime ? { localTime: true, ...(s.fallbackTimezone ? { fallbackTimezone: s.fallbackTimezone } : {}) } : {};
  switch (s.type) {
    case 'now':
      return { type: 'now' };
    case 'at':
      return { type: 'at', at: s.at, timezone: s.timezone, ...local };
    case 'dates':
      return { type: 'dates', dates: s.dates.split(/\s+/).filter(Boolean), timezone: s.timezone, ...local };
    case 'recurring':
      return { type: 'recurring', rrule: s.rrule, timezone: s.timezone, ...local };
    case 'event':
      return {
        type: 'event',
        event: s.event,
        delay: s.delay || '0s',
        ...(s.unlessEvent ? { unless: { event: s.unlessEvent, within: s.unlessWithin } } : {}),
        reentry: s.reentry || 'once',
      };
  }
}

function rulesOf(r: Draft['rules']): Record<string, unknown> {
  return {
    ...(r.quiet === 'off' ? { quietHours: 'off' } : r.quiet === 'custom' ? { quietHours: { from: r.from, to: r.to, policy: r.policy } } : {}),
    frequencyCaps: r.caps,
    ...(r.throttle ? { throttlePerMinute: Number(r.throttle) } : {}),
    ...(r.cutoff.trim() ? { cutoff: r.cutoff.trim() } : {}),
  };
}

function measureOf(m: Draft['measure']): Record<string, unknown> {
  return {
    controlGroupPercent: m.control ? Number(m.control) : null,
    goal: m.goalEvent ? { event: m.goalEvent, within: m.goalWithin, after: m.goalAfter, ...(m.revenueProperty ? { revenueProperty: m.revenueProperty } : {}) } : null,
    variants:
      m.variants.length > 0
        ? m.variants.map((v) => ({ name: v.name, weight: Number(v.weight), message: { ...(v.title ? { title: v.title } : {}), ...(v.body ? { body: v.body } : {}) } }))
        : null,
    winner: m.winner && m.variants.length > 0 ? { metric: m.winnerMetric, after: m.winnerAfter, testPercent: Number(m.testPercent) } : null,
  };
}

/** The request body of a create (nulls dropped) or a change (nulls remove result fields). */
function bodyOf(d: Draft, fields: Fields, forPatch: boolean): Record<string, unknown> {
  const measure = measureOf(d.measure);
  const results = Object.fromEntries(Object.entries(measure).filter(([, v]) => forPatch || v !== null));
  return { name: d.name, labels: list(d.labels), message: messageOf(d.message), audience: audienceOf(d.audience, fields), schedule: scheduleOf(d.schedule), rules: rulesOf(d.rules), ...results };
}

/** A saved campaign back into the form. */
function draftOf(c: Campaign): Draft {
  const d = emptyDraft();
  const m = c.message;
  d.name = c.name;
  d.labels = c.labels.join(', ');
  d.message = {
    title: m.title,
    body: m.body,
    urlArgs: m.urlArgs.join(', '),
    action: m.action ?? '',
    url: m.url ?? '',
    image: m.image ?? '',
    icon: m.icon ?? '',
    requireInteraction: m.requireInteraction ?? false,
    buttons: (m.actions ?? []).map((a) => ({ title: a.title, url: a.url })),
  };
  const a = c.audience as Record<string, unknown>;
  if ('segment' in a) d.audience = { ...d.audience, kind: 'segment', segment: String(a.segment) };
  else if ('users' in a) d.audience = { ...d.audience, kind: 'users', users: (a.users as string[]).join(', ') };
  else if ('filter' in a) {
    const rows = fromFilter(a.filter);
    d.audience = rows ? { ...d.audience, kind: 'filter', ...rows } : { ...d.audience, kind: 'json', json: JSON.stringify(a.filter, null, 2) };
  }
  const s = c.schedule as Record<string, unknown>;
  // A schedule with parts the form has no fields for is kept whole, as JSON, rather than changed.
  const fits = ['now', 'at', 'dates', 'recurring', 'event'].includes(c.schedule.type) && s.start === undefined && s.end === undefined;
  d.schedule = {
    ...d.schedule,
    type: (fits ? c.schedule.type : 'json') as ScheduleType,
    json: fits ? '' : JSON.stringify(c.schedule, null, 2),
    at: typeof s.at === 'string' ? s.at : '',
    dates: Array.isArray(s.dates) ? s.dates.join('\n') : '',
    rrule: typeof s.rrule === 'string' ? s.rrule : d.schedule.rrule,
    timezone: typeof s.timezone === 'string' ? s.timezone : d.schedule.timezone,
    localTime: s.localTime === true,
    fallbackTimezone: typeof s.fallbackTimezone === 'string' ? s.fallbackTimezone : '',
    event: typeof s.event === 'string' ? s.event : '',
    delay: typeof s.delay === 'string' ? s.delay : '0s',
    unlessEvent: (s.unless as { event?: string } | undefined)?.event ?? '',
    unlessWithin: (s.unless as { within?: string } | undefined)?.within ?? '10m',
    reentry: typeof s.reentry === 'string' ? s.reentry : 'once',
  };
  const r = c.rules as { quietHours?: 'off' | { from: string; to: string; policy: 'delay' | 'discard' }; frequencyCaps?: 'respect' | 'ignore'; throttlePerMinute?: number; cutoff?: string };
  d.rules = {
    quiet: r.quietHours === 'off' ? 'off' : r.quietHours ? 'custom' : 'default',
    from: r.quietHours && r.quietHours !== 'off' ? r.quietHours.from : '21:00',
    to: r.quietHours && r.quietHours !== 'off' ? r.quietHours.to : '09:00',
    policy: r.quietHours && r.quietHours !== 'off' ? r.quietHours.policy : 'delay',
    caps: r.frequencyCaps ?? 'respect',
    throttle: r.throttlePerMinute ? String(r.throttlePerMinute) : '',
    cutoff: r.cutoff ?? '',
  };
  const g = c.goal as { event?: string; within?: string; revenueProperty?: string; after?: 'sent' | 'click' } | undefined;
  d.measure = {
    control: c.controlGroupPercent ? String(c.controlGroupPercent) : '',
    goalEvent: g?.event ?? '',
    goalWithin: g?.within ?? '1d',
    revenueProperty: g?.revenueProperty ?? '',
    goalAfter: g?.after ?? 'sent',
    variants: (c.variants ?? []).map((v) => ({ name: v.name, weight: String(v.weight), title: v.message.title ?? '', body: v.message.body ?? '' })),
    winner: c.winner !== undefined,
    winnerMetric: (c.winner?.metric as 'clicks' | 'conversions') ?? 'clicks',
    winnerAfter: c.winner?.after ?? '4h',
    testPercent: c.winner ? String(c.winner.testPercent) : '20',
  };
  return d;
}

interface Estimate {
  users: number;
  devices: { safari: number; webpush: number; all: number };
}

/** Compose, target, schedule, measure, test and launch: everything the API allows, in one form. */
export function Editor(props: { id?: string }) {
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const [campaign, setCampaign] = useState<Campaign | undefined>();
  const [fields, setFields] = useState<Fields>({ attributes: [], deviceFacts: [], events: [] });
  const [segments, setSegments] = useState<Array<{ id: string; name: string }>>([]);
  const [previewUser, setPreviewUser] = useState('');
  const [preview, setPreview] = useState<{ safari?: ChannelPreview; webpush?: ChannelPreview; problems: string[]; profile?: boolean }>({ problems: [] });
  const [estimate, setEstimate] = useState<{ value?: Estimate; error?: string }>({});
  const [occurrences, setOccurrences] = useState<{ items: string[]; error?: string; timezone?: string; localTime?: boolean; triggered?: boolean }>({ items: [] });
  const [status, setStatus] = useState<{ message?: string; error?: string }>({});
  const [testUsers, setTestUsers] = useState('');
  const [lastField, setLastField] = useState<'title' | 'body'>('body');
  /** Launch asks once more before it acts. */
  const [confirming, setConfirming] = useState(false);
  const update = <K extends keyof Draft>(key: K, change: Partial<Draft[K]>) => setDraft((d) => ({ ...d, [key]: { ...(d[key] as object), ...change } }));

  useEffect(() => {
    void api<Fields>('/audience/fields').then(setFields).catch(() => undefined);
    void api<{ items: Array<{ id: string; name: string }> }>('/segments?limit=100').then((page) => setSegments(page.items)).catch(() => undefined);
  }, []);
  useEffect(() => {
    if (!props.id) {
      setCampaign(undefined);
      setDraft(emptyDraft());
      return;
    }
    void api<Campaign>(`/campaigns/${encodeURIComponent(props.id)}`)
      .then((c) => {
        setCampaign(c);
        setDraft(draftOf(c));
      })
      .catch((e: Error) => setStatus({ error: e.message }));
  }, [props.id]);

  // The preview, as the server renders it for the chosen user; its problems are the server's own checks.
  useDebounced(async (current) => {
    const message = messageOf(draft.message);
    if (!message.title && !message.body) return setPreview({ problems: [] });
    try {
      const answer = await api<{ channels: { safari: ChannelPreview; webpush: ChannelPreview }; problems: string[]; profile: boolean }>('/notifications/preview', {
        method: 'POST',
        body: { ...message, userId: previewUser || 'preview' },
      });
      if (current()) setPreview({ ...answer.channels, problems: answer.problems, profile: answer.profile });
    } catch (caught) {
      if (current()) setPreview({ problems: [(caught as Error).message] });
    }
  }, [JSON.stringify(draft.message), previewUser]);

  // The reach of the audience as it stands.
  useDebounced(async (current) => {
    const a = draft.audience;
    try {
      let body: Record<string, unknown> | undefined;
      if (a.kind === 'all') body = { filter: { device: 'channel', op: 'exists' } };
      else if (a.kind === 'segment') body = a.segment ? { segmentId: a.segment } : undefined;
      else if (a.kind === 'filter') body = (() => { const f = toFilter(a.match, a.conditions, fields); return f ? { filter: f } : undefined; })();
      else if (a.kind === 'json') body = { filter: JSON.parse(a.json || 'null') as unknown };
      if (!body) return setEstimate({});
      const value = await api<Estimate>('/segments/estimate', { method: 'POST', body });
      if (current()) setEstimate({ value });
    } catch (caught) {
      if (current()) setEstimate({ error: (caught as Error).message });
    }
  }, [JSON.stringify(draft.audience), fields]);

  // The next five occurrences, in words.
  useDebounced(async (current) => {
    try {
      const answer = await api<{ occurrences: string[]; timezone: string; localTime: boolean; triggered: boolean }>('/schedules/preview', { method: 'POST', body: { schedule: scheduleOf(draft.schedule), count: 5 } });
      if (current()) setOccurrences({ items: answer.occurrences, timezone: answer.timezone, localTime: answer.localTime, triggered: answer.triggered });
    } catch (caught) {
      if (current()) setOccurrences({ items: [], error: (caught as Error).message });
    }
  }, [JSON.stringify(draft.schedule)]);

  const insertVariable = (name: string) => {
    update('message', { [lastField]: `${draft.message[lastField]}{{ user.${name} }}` });
  };

  const save = async (): Promise<Campaign | undefined> => {
    try {
      const saved = campaign
        ? await api<Campaign>(`/campaigns/${campaign.id}`, { method: 'PATCH', body: bodyOf(draft, fields, true) })
        : await api<Campaign>('/campaigns', { method: 'POST', body: bodyOf(draft, fields, false), idempotent: true });
      setCampaign(saved);
      setStatus({ message: `Saved as a ${saved.status} campaign.` });
      if (!campaign) history.replaceState(null, '', `#/campaigns/${saved.id}/edit`);
      return saved;
    } catch (caught) {
      setStatus({ error: caught instanceof ApiError ? caught.message : String(caught) });
      return undefined;
    }
  };
  const testSend = async () => {
    // What is on the screen is what is tested: saved first while the campaign can change.
    const saved = campaign && campaign.status !== 'draft' && campaign.status !== 'paused' ? campaign : await save();
    if (!saved) return;
    try {
      const users = list(testUsers);
      const answer = await api<{ users: number }>(`/campaigns/${saved.id}/test`, { method: 'POST', body: users.length > 0 ? { userIds: users } : {}, idempotent: true });
      setStatus({ message: `Test sent to ${answer.users} user${answer.users === 1 ? '' : 's'}.` });
    } catch (caught) {
      setStatus({ error: (caught as Error).message });
    }
  };
  const launch = async () => {
    if (!confirming) {
      setConfirming(true);
      return;
    }
    setConfirming(false);
    const saved = await save();
    if (!saved) return;
    try {
      await api(`/campaigns/${saved.id}/launch`, { method: 'POST', body: {}, idempotent: true });
      location.hash = `#/campaigns/${saved.id}`;
    } catch (caught) {
      setStatus({ error: (caught as Error).message });
    }
  };

  const m = draft.message;
  const a = draft.audience;
  const s = draft.schedule;
  const r = draft.rules;
  const me = draft.measure;
  const editable = !campaign || campaign.status === 'draft' || campaign.status === 'paused';
  const site = location.host;
  return (
    <form class="editor" onSubmit={(e) => e.preventDefault()} aria-label="Campaign">
      <datalist id="attribute-names">
        {fields.attributes.map((attr) => <option value={attr.name} key={attr.name}>{attr.type}</option>)}
      </datalist>
      <datalist id="event-names">
        {fields.events.map((name) => <option value={name} key={name} />)}
      </datalist>
      <div class="row spread">
        <h2>{campaign ? `Edit “${campaign.name}”` : 'New campaign'}</h2>
        {campaign && <a href={`#/campaigns/${campaign.id}`}>Report</a>}
      </div>
      {!editable && <p class="error" role="status">This campaign is {campaign?.status}: pause it to change it.</p>}
      <Section title="Compose" id="compose">
        <div class="grid">
          <Field label="Campaign name"><input value={draft.name} onInput={(e) => setDraft({ ...draft, name: inputValue(e) })} required /></Field>
          <Field label="Labels" hint="comma separated"><input value={draft.labels} onInput={(e) => setDraft({ ...draft, labels: inputValue(e) })} /></Field>
          <Field label="Title" wide>
            <input value={m.title} onFocus={() => setLastField('title')} onInput={(e) => update('message', { title: inputValue(e) })} required />
          </Field>
          <Field label="Body" wide>
            <textarea value={m.body} rows={3} onFocus={() => setLastField('body')} onInput={(e) => update('message', { body: inputValue(e) })} required />
          </Field>
          <Field label="URL arguments (Safari)" hint="comma separated, one per %@ of the site's URL format">
            <input value={m.urlArgs} onInput={(e) => update('message', { urlArgs: inputValue(e) })} />
          </Field>
          <Field label="Click URL (Web Push)"><input type="url" value={m.url} onInput={(e) => update('message', { url: inputValue(e) })} placeholder="https://…" /></Field>
          <Field label="Action label (Safari)"><input value={m.action} onInput={(e) => update('message', { action: inputValue(e) })} /></Field>
          <Field label="Image (Web Push)"><input type="url" value={m.image} onInput={(e) => update('message', { image: inputValue(e) })} placeholder="https://…" /></Field>
          <Field label="Icon (Web Push)"><input type="url" value={m.icon} onInput={(e) => update('message', { icon: inputValue(e) })} placeholder="https://…" /></Field>
          <label class="check">
            <input type="checkbox" checked={m.requireInteraction} onChange={(e) => update('message', { requireInteraction: (e.target as HTMLInputElement).checked })} />
            Stays until dismissed (Web Push)
          </label>
        </div>
        <fieldset>
          <legend>Buttons (Web Push, up to 2)</legend>
          {m.buttons.map((b, i) => (
            <div class="row" key={i}>
              <Field label={`Button ${i + 1} title`}>
                <input value={b.title} onInput={(e) => update('message', { buttons: replaceAt(m.buttons, i, { title: inputValue(e) }) })} />
              </Field>
              <Field label={`Button ${i + 1} URL`}>
                <input type="url" value={b.url} onInput={(e) => update('message', { buttons: replaceAt(m.buttons, i, { url: inputValue(e) }) })} />
              </Field>
              <button type="button" class="link" onClick={() => update('message', { buttons: m.buttons.filter((_, j) => j !== i) })}>Remove button {i + 1}</button>
            </div>
          ))}
          {m.buttons.length < 2 && <button type="button" onClick={() => update('message', { buttons: [...m.buttons, { title: '', url: '' }] })}>Add button</button>}
        </fieldset>
        {fields.attributes.length > 0 && (
          <div class="variables" role="group" aria-label="Insert a variable">
            <span>Add to the end of the {lastField}:</span>
            {fields.attributes.map((attr) => (
              <button type="button" class="chip" key={attr.name} onClick={() => insertVariable(attr.name)}>{`{{ user.${attr.name} }}`}</button>
            ))}
          </div>
        )}
        <div class="preview">
          <Field label="Preview for user"><input value={previewUser} onInput={(e) => setPreviewUser(inputValue(e))} placeholder="user id" /></Field>
          <div class="mocks">
            <SafariNotification preview={preview.safari} site={site} />
            <ChromeNotification preview={preview.webpush} site={site} />
          </div>
          {previewUser && preview.profile === false && <p class="small">No profile for “{previewUser}”: its variables are empty here (a template can give defaults, such as {'{{ user.firstName | default: "there" }}'}).</p>}
          <Problems items={preview.problems} label="Message problems" />
        </div>
      </Section>

      <Section title="Audience" id="audience">
        <div class="row">
          {(['all', 'segment', 'filter', 'users', 'json'] as Kind[]).map((kind) => (
            <label class="check" key={kind}>
              <input type="radio" name="audience-kind" checked={a.kind === kind} onChange={() => update('audience', { kind })} />
              {{ all: 'Everyone', segment: 'A saved segment', filter: 'A filter', users: 'These users', json: 'Filter as JSON' }[kind]}
            </label>
          ))}
        </div>
        {a.kind === 'segment' && (
          <Field label="Segment">
            <select value={a.segment} onChange={(e) => update('audience', { segment: inputValue(e) })}>
              <option value="">choose…</option>
              {segments.map((seg) => <option value={seg.id} key={seg.id}>{seg.name}</option>)}
            </select>
          </Field>
        )}
        {a.kind === 'filter' && <FilterBuilder match={a.match} conditions={a.conditions} fields={fields} onChange={(match, conditions) => update('audience', { match, conditions })} />}
        {a.kind === 'users' && <Field label="User ids" hint="comma separated"><input value={a.users} onInput={(e) => update('audience', { users: inputValue(e) })} /></Field>}
        {a.kind === 'json' && <Field label="Filter JSON" wide><textarea rows={6} value={a.json} onInput={(e) => update('audience', { json: inputValue(e) })} /></Field>}
        <p class="estimate" aria-live="polite">
          {estimate.value
            ? `Reach: ${estimate.value.users.toLocaleString('en-US')} users · ${estimate.value.devices.safari.toLocaleString('en-US')} Safari · ${estimate.value.devices.webpush.toLocaleString('en-US')} Web Push devices`
            : estimate.error
              ? `Reach: ${estimate.error}`
              : a.kind === 'users'
                ? `${list(a.users).length} users listed`
                : 'Reach: –'}
        </p>
      </Section>

      <Section title="When" id="when">
        <div class="grid">
          <Choice
            label="Schedule"
            value={s.type}
            options={[
              ['now', 'Now'],
              ['at', 'At a time'],
              ['dates', 'On several dates'],
              ['recurring', 'Recurring'],
              ['event', 'Triggered by an event'],
              ['json', "As JSON (date reminders, a rule's start and end)"],
            ]}
            onChange={(value) => update('schedule', { type: value })}
          />
          {s.type === 'at' && <Field label="Date and time"><input type="datetime-local" value={s.at} onInput={(e) => update('schedule', { at: inputValue(e) })} /></Field>}
          {s.type === 'dates' && <Field label="Dates" hint="YYYY-MM-DDTHH:MM, one per line"><textarea rows={3} value={s.dates} onInput={(e) => update('schedule', { dates: inputValue(e) })} /></Field>}
          {s.type === 'recurring' && (
            <Field label="Recurrence rule" hint="RFC 5545, e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0">
              <input value={s.rrule} onInput={(e) => update('schedule', { rrule: inputValue(e) })} />
            </Field>
          )}
          {s.type === 'json' && (
            <Field label="Schedule JSON" wide hint="as the campaign API takes it (docs/campaigns.md)">
              <textarea rows={6} value={s.json} onInput={(e) => update('schedule', { json: inputValue(e) })} />
            </Field>
          )}
          {s.type !== 'now' && s.type !== 'event' && s.type !== 'json' && (
            <>
              <Field label="Time zone"><input value={s.timezone} onInput={(e) => update('schedule', { timezone: inputValue(e) })} /></Field>
              <label class="check">
                <input type="checkbox" checked={s.localTime} onChange={(e) => update('schedule', { localTime: (e.target as HTMLInputElement).checked })} />
                In each user's local time
              </label>
              {s.localTime && <Field label="Zone for users without one"><input value={s.fallbackTimezone} placeholder={s.timezone} onInput={(e) => update('schedule', { fallbackTimezone: inputValue(e) })} /></Field>}
            </>
          )}
          {s.type === 'event' && (
            <>
              <Field label="Event"><input list="event-names" value={s.event} onInput={(e) => update('schedule', { event: inputValue(e) })} placeholder="added_to_cart" /></Field>
              <Field label="Delay"><input value={s.delay} onInput={(e) => update('schedule', { delay: inputValue(e) })} placeholder="10m" /></Field>
              <Field label="Unless this event"><input list="event-names" value={s.unlessEvent} onInput={(e) => update('schedule', { unlessEvent: inputValue(e) })} placeholder="purchased" /></Field>
              <Field label="comes within"><input value={s.unlessWithin} onInput={(e) => update('schedule', { unlessWithin: inputValue(e) })} /></Field>
              <Field label="Re-entry" hint="once, or a duration such as 24h"><input value={s.reentry} onInput={(e) => update('schedule', { reentry: inputValue(e) })} /></Field>
            </>
          )}
        </div>
        <div aria-live="polite" class="occurrences">
          {occurrences.error ? (
            <p class="error">{occurrences.error}</p>
          ) : occurrences.triggered ? (
            <p>Sent to each user as their event comes, after the delay.</p>
          ) : (
            <>
              <h3>Next occurrences{occurrences.localTime ? ` (shown in ${occurrences.timezone}; each user gets it at that wall-clock time in their own zone)` : ''}</h3>
              <ol>
                {occurrences.items.map((at) => (
                  <li key={at}>{inWords(at, occurrences.timezone ?? 'UTC')} ({occurrences.timezone})</li>
                ))}
              </ol>
            </>
          )}
        </div>
        <fieldset>
          <legend>Rules</legend>
          <div class="grid">
            <Choice
              label="Quiet hours"
              value={r.quiet}
              options={[
                ['default', "The service's (QUIET_HOURS)"],
                ['off', 'Off'],
                ['custom', 'Custom'],
              ]}
              onChange={(value) => update('rules', { quiet: value })}
            />
            {r.quiet === 'custom' && (
              <>
                <Field label="Quiet from"><input type="time" value={r.from} onInput={(e) => update('rules', { from: inputValue(e) })} /></Field>
                <Field label="Quiet to"><input type="time" value={r.to} onInput={(e) => update('rules', { to: inputValue(e) })} /></Field>
                <Choice
                  label="In quiet hours"
                  value={r.policy}
                  options={[
                    ['delay', 'send when they end'],
                    ['discard', 'skip'],
                  ]}
                  onChange={(value) => update('rules', { policy: value })}
                />
              </>
            )}
            <Choice
              label="Frequency caps"
              value={r.caps}
              options={[
                ['respect', 'respect'],
                ['ignore', 'ignore'],
              ]}
              onChange={(value) => update('rules', { caps: value })}
            />
            <Field label="Throttle (devices a minute)"><input type="number" min={1} value={r.throttle} onInput={(e) => update('rules', { throttle: inputValue(e) })} /></Field>
            <Field label="Cut-off" hint="ISO 8601 with its offset, such as 2026-12-24T18:00:00+01:00"><input value={r.cutoff} onInput={(e) => update('rules', { cutoff: inputValue(e) })} /></Field>
          </div>
        </fieldset>
      </Section>

      <Section title="Measure" id="measure">
        <div class="grid">
          <Field label="Goal event" hint="what counts as a conversion"><input list="event-names" value={me.goalEvent} onInput={(e) => update('measure', { goalEvent: inputValue(e) })} placeholder="purchased" /></Field>
          <Field label="Within"><input value={me.goalWithin} onInput={(e) => update('measure', { goalWithin: inputValue(e) })} /></Field>
          <Field label="Revenue property"><input value={me.revenueProperty} onInput={(e) => update('measure', { revenueProperty: inputValue(e) })} placeholder="amount" /></Field>
          <Choice
            label="Counted after"
            value={me.goalAfter}
            options={[
              ['sent', 'the send'],
              ['click', 'a click'],
            ]}
            onChange={(value) => update('measure', { goalAfter: value })}
          />
          <Field label="Control group %" hint="held back, to measure the lift"><input type="number" min={0} max={50} step={0.5} value={me.control} onInput={(e) => update('measure', { control: inputValue(e) })} /></Field>
        </div>
        <fieldset>
          <legend>A/B variants</legend>
          {me.variants.map((v, i) => (
            <div class="row" key={i}>
              <Field label={`Variant ${i + 1} name`}><input value={v.name} onInput={(e) => update('measure', { variants: replaceAt(me.variants, i, { name: inputValue(e) }) })} /></Field>
              <Field label="Weight"><input type="number" min={1} max={100} value={v.weight} onInput={(e) => update('measure', { variants: replaceAt(me.variants, i, { weight: inputValue(e) }) })} /></Field>
              <Field label="Title (blank: the message's)"><input value={v.title} onInput={(e) => update('measure', { variants: replaceAt(me.variants, i, { title: inputValue(e) }) })} /></Field>
              <Field label="Body (blank: the message's)"><input value={v.body} onInput={(e) => update('measure', { variants: replaceAt(me.variants, i, { body: inputValue(e) }) })} /></Field>
              <button type="button" class="link" onClick={() => update('measure', { variants: me.variants.filter((_, j) => j !== i) })}>Remove variant {i + 1}</button>
            </div>
          ))}
          {me.variants.length < 5 && (
            <button type="button" onClick={() => update('measure', { variants: [...me.variants, { name: String.fromCharCode(65 + me.variants.length), weight: '50', title: '', body: '' }] })}>Add variant</button>
          )}
          {me.variants.length > 0 && (
            <div class="grid">
              <label class="check">
                <input type="checkbox" checked={me.winner} onChange={(e) => update('measure', { winner: (e.target as HTMLInputElement).checked })} />
                Test first, then send the winner to the rest
              </label>
              {me.winner && (
                <>
                  <Choice
                    label="Winner by"
                    value={me.winnerMetric}
                    options={[
                      ['clicks', 'clicks'],
                      ['conversions', 'conversions'],
                    ]}
                    onChange={(value) => update('measure', { winnerMetric: value })}
                  />
                  <Field label="Decide after"><input value={me.winnerAfter} onInput={(e) => update('measure', { winnerAfter: inputValue(e) })} /></Field>
                  <Field label="Test share %"><input type="number" min={1} max={99} value={me.testPercent} onInput={(e) => update('measure', { testPercent: inputValue(e) })} /></Field>
                </>
              )}
            </div>
          )}
        </fieldset>
      </Section>

      <Section title="Test and launch" id="launch">
        <div class="row">
          <Field label="Test to users" hint="comma separated; blank: the test profiles"><input value={testUsers} onInput={(e) => setTestUsers(inputValue(e))} /></Field>
        </div>
        <div class="row actions">
          <button type="button" onClick={() => void save()} disabled={!editable}>Save draft</button>
          <button type="button" onClick={() => void testSend()}>Send test</button>
          <button type="button" class="primary" onClick={() => void launch()} disabled={!editable || (campaign !== undefined && campaign.status !== 'draft')}>
            {confirming ? 'Confirm launch' : 'Launch'}
          </button>
          {confirming && <button type="button" onClick={() => setConfirming(false)}>Not yet</button>}
        </div>
        {confirming && <p role="alert">Launching saves the campaign and schedules it; with "Now" it goes out at once.</p>}
        <p role="status" aria-live="polite" class={status.error ? 'error' : 'ok'}>{status.error ?? status.message ?? ''}</p>
      </Section>
    </form>
  );
}
