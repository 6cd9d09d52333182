import net from 'node:net';

export type ClientIpPolicy = 'full' | 'truncated' | 'none';

/**
 * A client address as CLIENT_IP says to keep it: in full, truncated (IPv4's last octet and IPv6's
 * last 80 bits zeroed, as analytics tools anonymise), or not at all. IPv4 inside IPv6
 * (`::ffff:203.0.113.7`) is treated as the IPv4 address it is.
 */
export function keptClientIp(address: string | undefined | null, policy: ClientIpPolicy): string | null {
  if (!address || policy === 'none') return null;
  if (policy === 'full') return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1] : address;
  if (net.isIPv4(ip)) return ip.replace(/\.\d+$/, '.0');
  if (!net.isIPv6(ip)) return null;
  return truncatedIpv6(ip);
}

/** The first 48 bits of an IPv6 address, the rest zero, in the compressed form. */
function truncatedIpv6(ip: string): string {
  let text = ip.replace(/%.*$/, '');
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) as its two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${all.slice(0, 3).map((group) => parseInt(group, 16).toString(16)).join(':')}::`;
}
