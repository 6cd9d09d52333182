/**
 * A declarative push message read as a browser reads it (W3C Push API, "parse a declarative push
 * message", and the Notifications API's checks on what it would create), written from the spec for
 * the tests, independently of the service's builder. Throws with the rule that failed.
 */
export interface ParsedDeclarative {
  title: string;
  navigate: URL;
  options: Record<string, unknown>;
  actions: Array<{ action: string; title: string; navigate: URL; icon?: URL }>;
  appBadge?: number;
  mutable: boolean;
}

/** What Chromium and Safari show at most (Notification.maxActions). */
export const MAX_ACTIONS = 2;

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function absoluteUrl(value: unknown, what: string): URL {
  if (typeof value !== 'string') throw new Error(`${what} must be a string`);
  // Parsed without a base: a relative URL is a failure.
  const url = URL.parse(value);
  if (!url) throw new Error(`${what} is not an absolute URL: ${value}`);
  return url;
}

export function parseDeclarative(text: string): ParsedDeclarative {
  const message = JSON.parse(text) as unknown;
  if (!isMap(message)) throw new Error('message is not a JSON object');
  if (message.web_push !== 8030) throw new Error('web_push is not 8030');
  const n = message.notification;
  if (!isMap(n)) throw new Error('notification is not an object');
  if (typeof n.title !== 'string') throw new Error('notification.title is not a string');
  const navigate = absoluteUrl(n.navigate, 'notification.navigate');
  const options: Record<string, unknown> = {};
  for (const [field, type] of [['body', 'string'], ['tag', 'string'], ['lang', 'string'], ['dir', 'string'], ['renotify', 'boolean'], ['silent', 'boolean'], ['requireInteraction', 'boolean'], ['timestamp', 'number']] as const) {
    if (n[field] === undefined) continue;
    if (typeof n[field] !== type) throw new Error(`notification.${field} is not a ${type}`);
    options[field] = n[field];
  }
  for (const field of ['icon', 'image', 'badge'] as const) if (n[field] !== undefined) options[field] = absoluteUrl(n[field], `notification.${field}`).href;
  if (n.dir !== undefined && !['auto', 'ltr', 'rtl'].includes(n.dir as string)) throw new Error('notification.dir is not auto, ltr or rtl');
  if (n.timestamp !== undefined && !(Number.isInteger(n.timestamp) && (n.timestamp as number) >= 0)) throw new Error('notification.timestamp is not an EpochTimeStamp');
  // Notifications API: renotify needs a tag.
  if (n.renotify === true && !n.tag) throw new Error('renotify without a tag');
  if (n.data !== undefined) options.data = n.data;
  const actions: ParsedDeclarative['actions'] = [];
  if (n.actions !== undefined) {
    if (!Array.isArray(n.actions)) throw new Error('notification.actions is not a list');
    if (n.actions.length > MAX_ACTIONS) throw new Error(`more than ${MAX_ACTIONS} actions`);
    n.actions.forEach((action: unknown, i: number) => {
      if (!isMap(action)) throw new Error(`actions[${i}] is not an object`);
      if (typeof action.action !== 'string' || typeof action.title !== 'string') throw new Error(`actions[${i}] needs action and title strings`);
      actions.push({
        action: action.action,
        title: action.title,
        navigate: absoluteUrl(action.navigate, `actions[${i}].navigate`),
        ...(action.icon !== undefined ? { icon: absoluteUrl(action.icon, `actions[${i}].icon`) } : {}),
      });
    });
  }
  if (message.app_badge !== undefined && !(Number.isInteger(message.app_badge) && (message.app_badge as number) >= 0)) throw new Error('app_badge is not an unsigned integer');
  if (message.mutable !== undefined && typeof message.mutable !== 'boolean') throw new Error('mutable is not a boolean');
  return { title: n.title, navigate, options, actions, ...(message.app_badge !== undefined ? { appBadge: message.app_badge as number } : {}), mutable: message.mutable === true };
}
