/**
 * What one user would see, drawn as a Safari (macOS) notification and as a Chrome one, from the
 * payloads POST /api/v1/notifications/preview renders for that user. Every text is rendered as
 * text; images are not loaded (the studio's policy allows its own origin only): their address shows.
 */
export interface ChannelPreview {
  payload?: Record<string, unknown>;
  bytes?: number;
  error?: string;
  devices?: number;
}

export function SafariNotification(props: { preview?: ChannelPreview; site: string }) {
  const alert = ((props.preview?.payload as { aps?: { alert?: { title?: string; body?: string; action?: string } } } | undefined)?.aps?.alert ?? {}) as { title?: string; body?: string; action?: string };
  return (
    <figure class="mock safari" aria-label="As Safari on macOS shows it">
      <figcaption>Safari · macOS</figcaption>
      <div class="mock-card">
        <div class="mock-icon" aria-hidden="true">◎</div>
        <div class="mock-text">
          <div class="mock-app">{props.site}</div>
          <strong class="mock-title">{alert.title ?? ''}</strong>
          <p class="mock-body">{alert.body ?? ''}</p>
        </div>
        {alert.action && <span class="mock-action">{alert.action}</span>}
      </div>
      <ChannelNote preview={props.preview} />
    </figure>
  );
}

export function ChromeNotification(props: { preview?: ChannelPreview; site: string }) {
  const n = ((props.preview?.payload as { notification?: Record<string, unknown> } | undefined)?.notification ?? {}) as {
    title?: string;
    body?: string;
    image?: string;
    requireInteraction?: boolean;
    actions?: Array<{ title: string }>;
  };
  return (
    <figure class="mock chrome" aria-label="As Chrome shows it">
      <figcaption>Chrome · Web Push</figcaption>
      <div class="mock-card">
        <div class="mock-text">
          <div class="mock-app">{props.site}</div>
          <strong class="mock-title">{n.title ?? ''}</strong>
          <p class="mock-body">{n.body ?? ''}</p>
          {n.image && <div class="mock-image">image: {n.image}</div>}
          {n.actions && n.actions.length > 0 && (
            <div class="mock-buttons">
              {n.actions.map((a, i) => <span key={i}>{a.title}</span>)}
            </div>
          )}
          {n.requireInteraction && <small>stays until dismissed</small>}
        </div>
      </div>
      <ChannelNote preview={props.preview} />
    </figure>
  );
}

function ChannelNote(props: { preview?: ChannelPreview }) {
  const p = props.preview;
  if (!p) return null;
  return (
    <p class={p.error ? 'error small' : 'small'}>
      {p.error ? p.error : `${p.bytes ?? 0} bytes`}
      {p.devices !== undefined ? ` · ${p.devices} device${p.devices === 1 ? '' : 's'} of this user` : ''}
    </p>
  );
}
