import { useEffect, useState } from 'preact/hooks';
import { api, type Campaign, type Report } from './api';
import { STATUS_LABEL, fmt, inputValue, pct, when } from './ui';

/** Campaigns with status, labels and headline numbers (each from its report). */
export function CampaignList() {
  const [status, setStatus] = useState('');
  const [label, setLabel] = useState('');
  const [items, setItems] = useState<Array<{ campaign: Campaign; report?: Report }>>([]);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const [next, setNext] = useState<string | null>(null);
  /** A page of 25, newest first, each with its report's headline numbers; `cursor` continues the list. */
  const load = async (cursor: string | null, isStale: () => boolean = () => false) => {
    const query = new URLSearchParams({ limit: '25', ...(status ? { status } : {}), ...(label ? { label } : {}), ...(cursor ? { cursor } : {}) });
    setLoading(true);
    try {
      const page = await api<{ items: Campaign[]; nextCursor: string | null }>(`/campaigns?${query}`);
      const reports = await Promise.all(page.items.map((c) => api<Report>(`/campaigns/${c.id}/report`).catch(() => undefined)));
      if (isStale()) return;
      const rows = page.items.map((campaign, i) => ({ campaign, report: reports[i] }));
      setItems((before) => (cursor ? [...before, ...rows] : rows));
      setNext(page.nextCursor);
      setError('');
    } catch (caught) {
      if (!isStale()) setError((caught as Error).message);
    } finally {
      if (!isStale()) setLoading(false);
    }
  };
  useEffect(() => {
    let stale = false;
    void load(null, () => stale);
    return () => {
      stale = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [status, label]);
  return (
    <section class="card" aria-labelledby="list-title">
      <div class="row spread">
        <h2 id="list-title">Campaigns</h2>
        <a class="button primary" href="#/campaigns/new">New campaign</a>
      </div>
      <form class="row filters" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          <span>Status</span>
          <select value={status} onChange={(e) => setStatus(inputValue(e))}>
            <option value="">Any</option>
            {Object.entries(STATUS_LABEL).map(([value, text]) => (
              <option value={value} key={value}>{text}</option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Label</span>
          <input value={label} onChange={(e) => setLabel(inputValue(e))} placeholder="exact label" />
        </label>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="table-wrap">
        <table>
          <thead>
            <tr><th>Name</th><th>Status</th><th>Labels</th><th>Next</th><th>Sent</th><th>Clicked</th><th>Converted</th></tr>
          </thead>
          <tbody>
            {items.map(({ campaign, report }) => (
              <tr key={campaign.id}>
                <td><a href={`#/campaigns/${campaign.id}`}>{campaign.name}</a></td>
                <td><span class={`status ${campaign.status}`}>{STATUS_LABEL[campaign.status] ?? campaign.status}</span></td>
                <td>{campaign.labels.map((l) => <span class="tag" key={l}>{l}</span>)}</td>
                <td>{when(campaign.nextOccurrence)}</td>
                <td class="num">{fmt(report?.totals.sent)}</td>
                <td class="num">{fmt(report?.totals.clicked)} <small>{pct(report?.totals.clickRate)}</small></td>
                <td class="num">{report?.goal ? <>{fmt(report.totals.converted)} <small>{pct(report.totals.conversionRate)}</small></> : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {next && <button type="button" onClick={() => void load(next)} disabled={loading}>More</button>}
      {!loading && items.length === 0 && !error && <p>No campaigns yet. <a href="#/campaigns/new">Create the first one</a>.</p>}
    </section>
  );
}
