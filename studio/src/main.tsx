import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, KEY, api, whenUnauthorized } from './api';
import { CampaignList } from './campaigns';
import { Editor } from './editor';
import { ReportPage } from './report';
import { Users } from './users';
import './styles.css';

/** The route: #/campaigns, #/campaigns/new, #/campaigns/<id>/edit, #/campaigns/<id>, #/users[/<id>]. */
function useRoute(): string[] {
  // Decoded after the split (a %2F stays inside its part); a part that does not decode is dropped.
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return '';
    }
  };
  const parse = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decode);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const changed = () => setRoute(parse());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function Login(props: { onIn: () => void; message: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(props.message);
  const submit = async (event: Event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, key);
    try {
      await api('/campaigns?limit=1');
      props.onIn();
    } catch (caught) {
      sessionStorage.removeItem(KEY);
      setError(caught instanceof ApiError ? caught.message : String(caught));
    }
  };
  return (
    <form class="login card" onSubmit={submit} autocomplete="off">
      <h2>Log in</h2>
      <label>
        API key
        <input type="password" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} required />
      </label>
      <button type="submit" class="primary">Log in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(() => sessionStorage.getItem(KEY) !== null);
  const [message, setMessage] = useState('');
  const route = useRoute();
  useEffect(
    () =>
      whenUnauthorized(() => {
        sessionStorage.removeItem(KEY);
        setMessage('The API key was refused.');
        setSignedIn(false);
      }),
    [],
  );
  const [section, rawId, sub] = route;
  // Campaign ids are UUIDs: anything else in a link opens the list, never another API path.
  const id = section === 'campaigns' && rawId !== 'new' && rawId !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(rawId) ? undefined : rawId;
  let page;
  if (section === 'users') page = <Users userId={id} />;
  else if (section === 'campaigns' && id === 'new') page = <Editor />;
  else if (section === 'campaigns' && id && sub === 'edit') page = <Editor id={id} />;
  else if (section === 'campaigns' && id) page = <ReportPage id={id} />;
  else page = <CampaignList />;
  const current = section === 'users' ? 'users' : id === 'new' ? 'new' : 'campaigns';
  return (
    <>
      <header>
        <h1>safari-push · campaign studio</h1>
        {signedIn && (
          <nav aria-label="Studio">
            <a href="#/campaigns" aria-current={current === 'campaigns' ? 'page' : undefined}>Campaigns</a>
            <a href="#/campaigns/new" aria-current={current === 'new' ? 'page' : undefined}>New campaign</a>
            <a href="#/users" aria-current={current === 'users' ? 'page' : undefined}>Users</a>
            <a href="/admin">Console</a>
            <button
              type="button"
              onClick={() => {
                sessionStorage.removeItem(KEY);
                setSignedIn(false);
              }}
            >
              Log out
            </button>
          </nav>
        )}
      </header>
      <main>{signedIn ? page : <Login onIn={() => { setMessage(''); setSignedIn(true); }} message={message} />}</main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
