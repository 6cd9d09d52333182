import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import { inputValue, when } from './ui';

interface Profile {
  userId: string;
  attributes: Record<string, unknown>;
  timezone: string | null;
  language: string | null;
  test?: boolean;
  devices: Array<{ channel: string; browser: string | null; os: string | null; timezone: string | null; language: string | null; subscribedAt?: string; lastSeenAt?: string | null }>;
}
interface EventItem {
  name: string;
  time: string;
  properties: Record<string, unknown> | null;
}
interface Received {
  id: string;
  title: string;
  createdAt: string;
  channel: string;
  outcome: string;
  clickedAt: string | null;
}

/** Look up one user: attributes, devices, event timeline and the notifications they received. */
export function Users(props: { userId?: string }) {
  const [query, setQuery] = useState(props.userId ?? '');
  const [profile, setProfile] = useState<Profile | undefined>();
  const [events, setEvents] = useState<EventItem[]>([]);
  const [received, setReceived] = useState<Received[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!props.userId) return;
    setQuery(props.userId);
    const id = encodeURIComponent(props.userId);
    setError('');
    Promise.all([
      api<Profile>(`/users/${id}`),
      api<{ items: EventItem[] }>(`/users/${id}/events?limit=50`),
      api<{ notifications: Received[] }>(`/users/${id}/export`).catch(() => ({ notifications: [] as Received[] })),
    ])
      .then(([p, e, x]) => {
        setProfile(p);
        setEvents(e.items);
        setReceived([...x.notifications].reverse().slice(0, 50));
      })
      .catch((e: Error) => {
        setProfile(undefined);
        setError(e.message);
      });
  }, [props.userId]);
  return (
    <section class="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = `#/users/${encodeURIComponent(query.trim())}`;
        }}
      >
        <label class="field">
          <span>User id</span>
          <input value={query} onInput={(e) => setQuery(inputValue(e))} required />
        </label>
        <button type="submit" class="primary">Look up</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {profile && (
        <div class="user">
          <h3>Attributes</h3>
          <dl class="attributes">
            {Object.entries(profile.attributes).map(([name, value]) => (
              <div key={name}>
                <dt>{name}</dt>
                <dd>{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
              </div>
            ))}
            <div><dt>time zone</dt><dd>{profile.timezone ?? '–'}</dd></div>
            <div><dt>language</dt><dd>{profile.language ?? '–'}</dd></div>
          </dl>
          <h3>Devices</h3>
          <div class="table-wrap">
            <table>
              <thead><tr><th>Channel</th><th>Browser</th><th>OS</th><th>Zone</th><th>Subscribed</th><th>Last seen</th></tr></thead>
              <tbody>
                {profile.devices.map((d, i) => (
                  <tr key={i}><td>{d.channel}</td><td>{d.browser ?? '–'}</td><td>{d.os ?? '–'}</td><td>{d.timezone ?? '–'}</td><td>{when(d.subscribedAt)}</td><td>{when(d.lastSeenAt)}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
          <h3>Events</h3>
          <ol class="timeline">
            {events.map((e, i) => (
              <li key={i}>
                <time>{when(e.time)}</time> <strong>{e.name}</strong> {e.properties ? <code>{JSON.stringify(e.properties)}</code> : null}
              </li>
            ))}
          </ol>
          <h3>Notifications received</h3>
          <div class="table-wrap">
            <table>
              <thead><tr><th>When</th><th>Title</th><th>Channel</th><th>Outcome</th><th>Clicked</th></tr></thead>
              <tbody>
                {received.map((n, i) => (
                  <tr key={i}><td>{when(n.createdAt)}</td><td>{n.title}</td><td>{n.channel}</td><td>{n.outcome}</td><td>{when(n.clickedAt)}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}
