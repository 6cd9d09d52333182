import type http2 from 'node:http2';

/** An APNs error answer: HTTP status and the `reason` APNs puts in the body. */
export interface Rejection {
  status: number;
  reason: string;
}

const MAX_PAYLOAD_BYTES = 4096;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEVICE_TOKEN = /^[0-9a-f]{64}$/i;

const reject = (status: number, reason: string): Rejection => ({ status, reason });

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/**
 * Checks the headers of a request the way APNs does for a Safari notification
 * (docs/protocol.md §1, "Sending through APNs"). The topic is checked by the caller,
 * which knows what the connection's credentials allow.
 */
export function checkHeaders(headers: http2.IncomingHttpHeaders): Rejection | undefined {
  if (headers[':method'] !== 'POST') return reject(405, 'MethodNotAllowed');
  const token = /^\/3\/device\/([^/]*)$/.exec(String(headers[':path']))?.[1];
  if (token === undefined) return reject(404, 'BadPath');
  if (!DEVICE_TOKEN.test(token)) return reject(400, 'BadDeviceToken');
  if (!headers['apns-topic']) return reject(400, 'MissingTopic');
  if (headers['apns-push-type'] !== 'alert') return reject(400, 'InvalidPushType');
  const priority = headers['apns-priority'];
  if (priority !== undefined && priority !== '10' && priority !== '5') return reject(400, 'BadPriority');
  const expiration = headers['apns-expiration'];
  if (expiration !== undefined && !/^\d{1,12}$/.test(String(expiration))) return reject(400, 'BadExpirationDate');
  const collapseId = headers['apns-collapse-id'];
  if (collapseId !== undefined && Buffer.byteLength(String(collapseId)) > 64) return reject(400, 'BadCollapseId');
  const id = headers['apns-id'];
  if (id !== undefined && !UUID.test(String(id))) return reject(400, 'BadMessageId');
  return undefined;
}

/**
 * Checks the body: present, at most 4096 bytes, and the Safari alert shape. Safari needs
 * `aps.alert.title`, `aps.alert.body` and `aps.url-args`; with the wrong number of url-args it
 * silently shows nothing, so when `urlArgsCount` is known a mismatch is refused here.
 */
export function checkPayload(body: Buffer, urlArgsCount?: number): Rejection | undefined {
  if (body.length === 0) return reject(400, 'PayloadEmpty');
  if (body.length > MAX_PAYLOAD_BYTES) return reject(413, 'PayloadTooLarge');
  let payload: { aps?: { alert?: { title?: unknown; body?: unknown; action?: unknown }; 'url-args'?: unknown } };
  try {
    payload = JSON.parse(body.toString('utf8')) as typeof payload;
  } catch {
    return reject(400, 'BadPayload');
  }
  const aps = payload?.aps;
  const alert = aps?.alert;
  if (!alert || typeof alert.title !== 'string' || typeof alert.body !== 'string') return reject(400, 'BadSafariAlert');
  if (alert.action !== undefined && typeof alert.action !== 'string') return reject(400, 'BadSafariAlert');
  const urlArgs = aps?.['url-args'];
  if (!isStringArray(urlArgs)) return reject(400, 'BadUrlArgs');
  if (urlArgsCount !== undefined && urlArgs.length !== urlArgsCount) return reject(400, 'BadUrlArgs');
  return undefined;
}
