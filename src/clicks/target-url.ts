/**
 * The page a click opens: the site's urlFormatString with each `%@` filled, in order, by a
 * url-arg (percent-encoded, so an argument cannot add a path, a query or another host). Undefined
 * when the result would leave the format string's own origin (docs/protocol.md §1; no open redirect).
 */
export function buildTargetUrl(urlFormatString: string, urlArgs: readonly string[]): string | undefined {
  const parts = urlFormatString.split('%@');
  if (parts.length - 1 !== urlArgs.length) return undefined;
  try {
    // encodeURIComponent throws on a lone surrogate: such an argument has no URL either.
    const filled = parts.reduce((url, part, index) => url + (index > 0 ? encodeURIComponent(urlArgs[index - 1]) : '') + part, '');
    const origin = new URL(urlFormatString.replaceAll('%@', 'x')).origin;
    const target = new URL(filled);
    return target.origin === origin && (target.protocol === 'https:' || target.protocol === 'http:') ? target.toString() : undefined;
  } catch {
    return undefined;
  }
}
