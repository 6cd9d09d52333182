import { Context, Liquid, Tag, type Template } from 'liquidjs';
import type { AttributeValue } from '../audience/values';
import type { Channel } from '../devices/repository';
import { badRequest } from '../errors';
import type { NotificationInput } from './repository';

/**
 * Personalization: `title`, `body`, `action`, `url` and each of `urlArgs` may be Liquid templates
 * (liquidjs, the Shopify syntax marketers write in OneSignal, CleverTap and Braze):
 * `Hi {{ user.firstName | default: "there" }}`. Templates are parsed once per send and rendered per
 * device, synchronously, in a sandbox: only own properties of the data given, no file system
 * (include, render and layout are refused), and each render bounded in time, output and memory.
 */

/** What a template sees of the device it is rendered for. */
export interface Recipient {
  userId: string | null;
  attributes: Record<string, AttributeValue>;
  timezone: string | null;
  language: string | null;
  device: { channel: Channel; browser: string | null; os: string | null; language: string | null; timezone: string | null };
}

/** The fields that may be templates. */
export interface PersonalFields {
  title: string;
  body: string;
  action?: string;
  url?: string;
  urlArgs: string[];
}

/** At most this much text per rendered field: a runaway loop is cut off long before it. */
const MAX_RENDERED = 8192;
/**
 * Milliseconds all fields of one device's render may take together, by the clock: a render takes
 * tens of microseconds, and a garbage collection pause or a busy machine must not fail a device,
 * only a template that loops away.
 */
const RENDER_LIMIT_MS = 50;

class Refused extends Tag {
  constructor(...args: ConstructorParameters<typeof Tag>) {
    super(...args);
    throw new Error(`the {% ${this.name} %} tag is not available in notifications (templates cannot read files)`);
  }
  *render(): Generator<unknown, void, unknown> {}
}

const engine = new Liquid({
  ownPropertyOnly: true,
  strictFilters: true,
  strictVariables: false,
  // Nothing is read from disk: an empty in-memory template store.
  templates: {},
  cache: false,
  timezoneOffset: 0,
  parseLimit: 16 * 1024,
  renderLimit: RENDER_LIMIT_MS,
  memoryLimit: 1_000_000,
});
for (const name of ['include', 'render', 'layout', 'block']) engine.registerTag(name, Refused);

const TEMPLATE_MARK = /\{\{|\{%/;

/** True when some field of the notification is a template (otherwise every device gets one payload). */
export function isPersonalized(input: Pick<NotificationInput, 'title' | 'body' | 'action' | 'urlArgs'> & { webPush?: { url?: string } }): boolean {
  return [input.title, input.body, input.action ?? '', input.webPush?.url ?? '', ...input.urlArgs].some((text) => TEMPLATE_MARK.test(text));
}

/** A liquidjs error as a message with its position ("line 1, col 9"). */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').slice(0, 300);
}

type Compiled = Template[] | string;
const compile = (text: string): Compiled => (TEMPLATE_MARK.test(text) ? engine.parse(text) : text);

/**
 * The data a template renders with: `user` (attributes, id, time zone, language) and `device`.
 * The recipient is the render's own (read for this device alone), so its attributes object becomes
 * `user` without a copy.
 */
function scopeFor(recipient: Recipient | undefined, data: Record<string, unknown>): object {
  if (!recipient) return { ...data, user: {}, device: {} };
  // The id, time zone and language win over attributes of the same name.
  const user: Record<string, unknown> = recipient.attributes;
  user.id = recipient.userId;
  user.timezone = recipient.timezone ?? recipient.device.timezone;
  user.language = recipient.language ?? recipient.device.language;
  return { ...data, user, device: recipient.device };
}

export interface Personalizer {
  /**
   * The fields for one device, or a reason its render failed (that device alone fails with it).
   * The recipient's attributes object is the render's to write into (id, time zone, language).
   */
  render(recipient: Recipient | undefined): { ok: true; fields: PersonalFields } | { ok: false; reason: string };
}

/**
 * Parses the fields once; a syntax error (or a refused tag or unknown filter) is a 400 that names
 * the field and the position. A trial render with an empty user catches what only rendering shows.
 */
export function personalizer(fields: PersonalFields, data: Record<string, unknown> = {}): Personalizer {
  const parse = (text: string, field: string): Compiled => {
    try {
      return compile(text);
    } catch (error) {
      throw badRequest(`${field} is not a valid template: ${describeError(error)}`, 'invalid_template');
    }
  };
  const title = parse(fields.title, 'title');
  const body = parse(fields.body, 'body');
  const action = fields.action === undefined ? undefined : parse(fields.action, 'action');
  const url = fields.url === undefined ? undefined : parse(fields.url, 'url');
  // A templated url keeps its origin: the scheme, host and the first / are written out, so no
  // attribute can send a click to another site.
  if (fields.url !== undefined && typeof url !== 'string' && !/^https?:\/\/[^/{}%?#\s]+\//.test(fields.url.split(/\{\{|\{%/)[0])) {
    throw badRequest('url: a template may only follow the site\'s origin and a /, as in "https://example.com/{{ user.id }}" (the host cannot come from a template)', 'invalid_template');
  }
  const urlArgs = fields.urlArgs.map((arg, i) => parse(arg, `urlArgs[${i}]`));
  const renderOne = (compiled: Compiled, context: Context, field: string): string => {
    if (typeof compiled === 'string') return compiled;
    const text = String(engine.renderSync(compiled, context));
    if (text.length > MAX_RENDERED) throw new Error(`${field} renders to more than ${MAX_RENDERED} characters`);
    return text;
  };
  const personal: Personalizer = {
    render(recipient) {
      try {
        // One context per device: one time budget (a deadline set here) and one memory budget for
        // all its fields, rendered in order; a variable assigned in one field is seen by the next.
        const context = new Context(scopeFor(recipient, data), engine.options, { sync: true }, { liquid: engine });
        return {
          ok: true,
          fields: {
            title: renderOne(title, context, 'title'),
            body: renderOne(body, context, 'body'),
            ...(action !== undefined ? { action: renderOne(action, context, 'action') } : {}),
            ...(url !== undefined ? { url: renderOne(url, context, 'url') } : {}),
            urlArgs: urlArgs.map((arg, i) => renderOne(arg, context, `urlArgs[${i}]`)),
          },
        };
      } catch (error) {
        return { ok: false, reason: `TemplateError: ${describeError(error)}` };
      }
    },
  };
  return personal;
}

/** Checks the templates of a send as it is created: a 400 with the field and position, or nothing. */
export function checkTemplates(fields: PersonalFields): void {
  const trial = personalizer(fields).render(undefined);
  if (!trial.ok) throw badRequest(`The templates cannot be rendered: ${trial.reason.replace(/^TemplateError: /, '')}`, 'invalid_template');
}
