import net from 'node:net';

/** Known only to this module: the one place a PushTarget can be made. */
const APPROVED = Symbol('approved by the endpoint policy');

/**
 * Where one push goes: host and port exactly as the endpoint policy approved them. Only
 * `createEndpointPolicy().check()` can make one (the constructor wants a symbol this module does
 * not export), and the Web Push client sends to nothing else, so a request to an address the
 * policy did not approve cannot be written.
 */
export class PushTarget {
  constructor(
    approval: symbol,
    /** The normalised endpoint URL, as stored. */
    readonly url: string,
    /** Lower-case DNS name or IP literal (IPv6 without brackets). */
    readonly hostname: string,
    readonly port: number,
    /** Path and query, as sent in the request line. */
    readonly path: string,
  ) {
    if (approval !== APPROVED) throw new TypeError('A PushTarget is made only by the endpoint policy');
    Object.freeze(this);
  }
  /** `https://host[:port]`: the VAPID audience. */
  get origin(): string {
    const host = net.isIPv6(this.hostname) ? `[${this.hostname}]` : this.hostname;
    return `https://${host}${this.port === 443 ? '' : `:${this.port}`}`;
  }
}

export type EndpointCheck = { ok: true; target: PushTarget } | { ok: false; reason: string };

export interface EndpointPolicy {
  /** Parses an endpoint once and says whether the service may post to it, and where exactly. */
  check(endpoint: string): EndpointCheck;
}

/** One entry of WEBPUSH_ENDPOINT_HOSTS: `host`, `.suffix` (any subdomain), optionally `:port` or `:*`. */
interface HostRule {
  host: string;
  suffix: boolean;
  /** Ports allowed besides none: undefined = 443 only, 'any' = every port. */
  port?: number | 'any';
}

/** The longest endpoint URL accepted, checked, stored and sent to. */
export const MAX_ENDPOINT_LENGTH = 2048;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A DNS host name as RFC 1035/1123 allow it: labels of 1-63 letters, digits or inner hyphens, 253 characters in all. */
export function isDnsHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split('.');
  return labels.length >= 2 && labels.every((label) => LABEL.test(label)) && !/^\d+$/.test(labels[labels.length - 1]);
}

export function parseHostRules(entries: readonly string[]): HostRule[] {
  return entries.map((entry) => {
    const match = /^(\.?)(\[[0-9a-f:.]+\]|[^:]+)(?::(\d{1,5}|\*))?$/.exec(entry.trim().toLowerCase());
    if (!match) throw new Error(`WEBPUSH_ENDPOINT_HOSTS: ${JSON.stringify(entry)} is not host, .suffix, host:port or host:*`);
    const host = match[2].replace(/^\[|\]$/g, '');
    if (!(isDnsHostname(host) || net.isIP(host) !== 0)) throw new Error(`WEBPUSH_ENDPOINT_HOSTS: ${JSON.stringify(entry)} is not a DNS name or IP address`);
    const port = match[3] === undefined ? undefined : match[3] === '*' ? 'any' : Number(match[3]);
    if (typeof port === 'number' && (port < 1 || port > 65535)) throw new Error(`WEBPUSH_ENDPOINT_HOSTS: ${JSON.stringify(entry)} has no valid port`);
    return { host, suffix: match[1] === '.', port };
  });
}

/**
 * The push services a subscription may point at (WEBPUSH_ENDPOINT_HOSTS). An endpoint passes when
 * it is an https URL without credentials, its host is a valid DNS name (or an IP literal the list
 * names exactly) matching an entry, and its port is 443 or one the entry names.
 */
export function createEndpointPolicy(entries: readonly string[]): EndpointPolicy {
  const rules = parseHostRules(entries);
  return {
    check(endpoint) {
      if (typeof endpoint !== 'string' || endpoint.length > MAX_ENDPOINT_LENGTH) return { ok: false, reason: `endpoint must be a URL of at most ${MAX_ENDPOINT_LENGTH} characters` };
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        return { ok: false, reason: 'endpoint is not a URL' };
      }
      if (url.protocol !== 'https:') return { ok: false, reason: 'endpoint must be an https:// URL' };
      if (url.username || url.password) return { ok: false, reason: 'endpoint must not carry credentials' };
      const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      const ip = net.isIP(hostname) !== 0;
      if (!ip && !isDnsHostname(hostname)) return { ok: false, reason: 'endpoint host is not a valid DNS name (labels of at most 63 characters, 253 in all)' };
      const port = url.port === '' ? 443 : Number(url.port);
      const rule = rules.find((candidate) =>
        candidate.suffix && !ip ? hostname.endsWith(`.${candidate.host}`) : hostname === candidate.host,
      );
      if (!rule) return { ok: false, reason: `endpoint host ${hostname} is not a known push service (WEBPUSH_ENDPOINT_HOSTS)` };
      if (port !== 443 && rule.port !== 'any' && rule.port !== port) return { ok: false, reason: `endpoint port ${port} is not allowed for ${hostname} (443 unless WEBPUSH_ENDPOINT_HOSTS names the port)` };
      url.hash = '';
      return { ok: true, target: new PushTarget(APPROVED, url.href, hostname, port, `${url.pathname}${url.search}`) };
    },
  };
}
