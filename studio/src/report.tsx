import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, download, type Campaign, type Report, type Totals } from './api';
import { STATUS_LABEL, fmt, pct, when } from './ui';

const HOUR = 3_600_000;
const SERIES = [
  { key: 'sent', label: 'Sent', stroke: '#1f6feb' },
  { key: 'shown', label: 'Shown', stroke: '#8250df' },
  { key: 'clicked', label: 'Clicked', stroke: '#bf8700' },
  { key: 'converted', label: 'Converted', stroke: '#1a7f37' },
] as const;

/** Sent, shown, clicked and converted per hour (uPlot draws on a canvas: nothing from the data becomes HTML). */
function Chart(props: { series: Report['series'] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element || props.series.length === 0) return;
    // Every hour from the first to the last (at most 60 days), hours without counts at 0: no line jumps a gap.
    const byHour = new Map(props.series.map((p) => [Date.parse(p.at), p]));
    // An hour either side, so that a send within one hour still draws a line.
    const first = Math.min(...byHour.keys()) - HOUR;
    const last = Math.min(Math.max(...byHour.keys()) + HOUR, first + 60 * 24 * HOUR);
    const hours: number[] = [];
    for (let at = first; at <= last; at += HOUR) hours.push(at);
    const xs = hours.map((at) => at / 1000);
    const data: uPlot.AlignedData = [xs, ...SERIES.map((s) => hours.map((at) => byHour.get(at)?.[s.key] ?? 0))];
    const width = Math.max(280, element.clientWidth);
    const chart = new uPlot(
      {
        width,
        height: 240,
        series: [{}, ...SERIES.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, points: { show: true } }))],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
      },
      data,
      element,
    );
    return () => chart.destroy();
  }, [JSON.stringify(props.series)]);
  return (
    <div>
      <div ref={box} class="chart" role="img" aria-label="Sent, shown, clicked and converted per hour" />
      <table class="visually-hidden">
        <caption>Per hour</caption>
        <thead><tr><th>Hour</th>{SERIES.map((s) => <th key={s.key}>{s.label}</th>)}</tr></thead>
        <tbody>
          {props.series.map((p) => (
            <tr key={p.at}><td>{p.at}</td>{SERIES.map((s) => <td key={s.key}>{p[s.key]}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Headline(props: { totals: Totals; goal: boolean }) {
  const t = props.totals;
  const cards: Array<[string, string, string?]> = [
    ['Sent', fmt(t.sent), `of ${fmt(t.targeted)} targeted`],
    ['Shown', fmt(t.shown), 'Web Push only'],
    ['Clicked', fmt(t.clicked), pct(t.clickRate)],
    ...(props.goal ? ([['Converted', fmt(t.converted), pct(t.conversionRate)], ['Revenue', fmt(t.revenue)]] as Array<[string, string, string?]>) : []),
    ['Held out', fmt(t.heldOut)],
  ];
  return (
    <dl class="headline">
      {cards.map(([label, value, note]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>
            {value}
            {note && <small>{note}</small>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

const ROW_COLUMNS: Array<[keyof Totals, string]> = [
  ['sent', 'Sent'],
  ['shown', 'Shown'],
  ['clicked', 'Clicked'],
  ['clickRate', 'Click rate'],
  ['converted', 'Converted'],
  ['conversionRate', 'Conversion rate'],
  ['revenue', 'Revenue'],
];
const cellOf = (t: Totals, key: keyof Totals) => (key === 'clickRate' || key === 'conversionRate' ? pct(t[key] as number | null) : fmt(t[key] as number | null));

/** A campaign's report and the actions on it: pause, resume, cancel, edit, test. */
export function ReportPage(props: { id: string }) {
  const [campaign, setCampaign] = useState<Campaign | undefined>();
  const [report, setReport] = useState<Report | undefined>();
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const [confirmCancel, setConfirmCancel] = useState(false);
  useEffect(() => {
    let stale = false;
    Promise.all([api<Campaign>(`/campaigns/${encodeURIComponent(props.id)}`), api<Report>(`/campaigns/${encodeURIComponent(props.id)}/report`)])
      .then(([c, r]) => {
        if (stale) return;
        setCampaign(c);
        setReport(r);
        setError('');
      })
      .catch((e: Error) => !stale && setError(e.message));
    return () => {
      stale = true;
    };
  }, [props.id, tick]);
  const act = async (action: 'pause' | 'resume' | 'cancel') => {
    try {
      await api(`/campaigns/${encodeURIComponent(props.id)}/${action}`, { method: 'POST' });
      setTick((n) => n + 1);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  if (!campaign || !report) return <section class="card">{error ? <p class="error" role="alert">{error}</p> : <p>Loading…</p>}</section>;
  const lift = report.lift;
  return (
    <section class="card report" aria-labelledby="report-title">
      <div class="row spread">
        <h2 id="report-title">{campaign.name}</h2>
        <span class={`status ${campaign.status}`}>{STATUS_LABEL[campaign.status] ?? campaign.status}</span>
      </div>
      <p>
        {campaign.labels.map((l) => <span class="tag" key={l}>{l}</span>)} Next occurrence: {when(campaign.nextOccurrence)}
      </p>
      <div class="row actions">
        {(campaign.status === 'draft' || campaign.status === 'paused') && <a class="button" href={`#/campaigns/${campaign.id}/edit`}>Edit</a>}
        {(campaign.status === 'scheduled' || campaign.status === 'running') && <button type="button" onClick={() => void act('pause')}>Pause</button>}
        {campaign.status === 'paused' && <button type="button" onClick={() => void act('resume')}>Resume</button>}
        {campaign.status !== 'completed' && campaign.status !== 'cancelled' &&
          (confirmCancel ? (
            <>
              <button type="button" class="danger" onClick={() => { setConfirmCancel(false); void act('cancel'); }}>Confirm: cancel the campaign</button>
              <button type="button" onClick={() => setConfirmCancel(false)}>Keep it</button>
            </>
          ) : (
            <button type="button" class="danger" onClick={() => setConfirmCancel(true)}>Cancel campaign</button>
          ))}
        <button type="button" onClick={() => setTick((n) => n + 1)}>Refresh</button>
        <button type="button" onClick={() => void download(`/campaigns/${campaign.id}/report?format=csv`, `campaign-${campaign.id}.csv`).catch((e: Error) => setError(e.message))}>Export CSV</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <Headline totals={report.totals} goal={report.goal} />
      <h3>Over time</h3>
      {report.series.length > 0 ? <Chart series={report.series} /> : <p>Nothing sent yet.</p>}
      {report.control && (
        <>
          <h3>Against the control group</h3>
          <p class="lift">
            {lift
              ? `Conversion ${pct(report.totals.conversionRate, 2)} against ${pct(report.control.conversionRate, 2)} held out (${fmt(report.control.users)} user${report.control.users === 1 ? '' : 's'}): a lift of ${pct(lift.absolute, 2)} points` +
                (lift.relative !== null ? ` (${pct(lift.relative, 1)})` : '') +
                (lift.confidence95 ? `, 95% interval ${pct(lift.confidence95[0], 2)} to ${pct(lift.confidence95[1], 2)}` : '') +
                (lift.pValue !== null ? `, p = ${lift.pValue.toFixed(3)} (${lift.pValue < 0.05 ? 'unlikely to be chance' : 'could be chance'})` : '')
              : `${fmt(report.control.users)} users held out; a goal is needed to compare.`}
          </p>
        </>
      )}
      {(report.variants.length > 0 || report.winner) && (
        <>
          <h3>Variants</h3>
          <div class="table-wrap">
            <table>
              <thead><tr><th>Variant</th>{ROW_COLUMNS.map(([, label]) => <th key={label}>{label}</th>)}</tr></thead>
              <tbody>
                {report.variants.map((v) => (
                  <tr key={v.name}><th scope="row">{v.name}</th>{ROW_COLUMNS.map(([key]) => <td class="num" key={key}>{cellOf(v, key)}</td>)}</tr>
                ))}
                {report.winner && (
                  <tr><th scope="row">Winner {report.winner.name}, to the rest</th>{ROW_COLUMNS.map(([key]) => <td class="num" key={key}>{cellOf(report.winner as Totals, key)}</td>)}</tr>
                )}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h3>By channel</h3>
      <div class="table-wrap">
        <table>
          <thead><tr><th>Channel</th>{ROW_COLUMNS.filter(([k]) => k !== 'conversionRate').map(([, label]) => <th key={label}>{label}</th>)}</tr></thead>
          <tbody>
            {(['safari', 'webpush'] as const).map((channel) => (
              <tr key={channel}>
                <th scope="row">{channel === 'safari' ? 'Safari' : 'Web Push'}</th>
                {ROW_COLUMNS.filter(([k]) => k !== 'conversionRate').map(([key]) => (
                  <td class="num" key={key}>{channel === 'safari' && key === 'shown' ? 'not measurable' : cellOf(report.byChannel[channel], key)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Failures by reason</h3>
      {report.failures.length === 0 ? (
        <p>None.</p>
      ) : (
        <ul class="failures">
          {report.failures.map((f) => (
            <li key={`${f.outcome}:${f.reason}`}>{f.reason ?? '(no reason)'} · {f.outcome} · {fmt(f.count)}</li>
          ))}
        </ul>
      )}
      <ul class="notes">
        {report.notes.map((n) => <li key={n}>{n}</li>)}
      </ul>
    </section>
  );
}
