/**
 * The studio speaks only the public JSON API, with the admin key the person typed in: everything it
 * shows can be scripted with the same calls (docs/studio.md). The key lives in this tab's
 * sessionStorage (shared with the console at /admin) and goes out as `Authorization: Bearer`.
 */
import type { CampaignReport, Totals } from '../../src/results/report-types';

export const KEY = 'safari-push-admin-key';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => undefined;
export const whenUnauthorized = (handler: () => void) => {
  onUnauthorized = handler;
};

export async function api<T = unknown>(path: string, init: { method?: string; body?: unknown; idempotent?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ''}` };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  // Creates and launches take an Idempotency-Key: a double click or a retried request makes one.
  if (init.idempotent) headers['Idempotency-Key'] = crypto.randomUUID();
  const res = await fetch(`/api/v1${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  if (res.status === 401) {
    onUnauthorized();
    throw new ApiError(401, 'unauthorized', 'The API key was refused.');
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('json')) {
    if (!res.ok) throw new ApiError(res.status, 'http', `HTTP ${res.status}`);
    return (await res.text()) as T;
  }
  const body = (await res.json()) as { error?: { code: string; message: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.code ?? 'http', body.error?.message ?? `HTTP ${res.status}`);
  return body as T;
}

/** Downloads what a GET answers as a file (the CSV report), through a blob: the key stays in a header. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ''}` } });
  if (!res.ok) throw new ApiError(res.status, 'http', `HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface Campaign {
  id: string;
  name: string;
  labels: string[];
  status: 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled';
  message: Message;
  audience: Record<string, unknown>;
  schedule: Record<string, unknown> & { type: string };
  rules: Record<string, unknown>;
  goal?: Record<string, unknown>;
  controlGroupPercent?: number;
  variants?: Array<{ name: string; weight: number; message: Partial<Message> }>;
  winner?: { metric: string; after: string; testPercent: number };
  nextOccurrence: string | null;
  createdAt: string;
}

export interface Message {
  title: string;
  body: string;
  urlArgs: string[];
  action?: string;
  url?: string;
  image?: string;
  icon?: string;
  requireInteraction?: boolean;
  actions?: Array<{ title: string; url: string }>;
}

/** A campaign's report as the server defines it (src/results/report-types.ts), with the campaign's name and status. */
export type Report = CampaignReport & { name: string; status: string };
export type { Totals };
