import pino, { type Logger } from 'pino';

export type { Logger };

/** Keeps the first 8 characters of a device token, enough to correlate, too few to use. */
export function maskToken(token: string): string {
  return token.length > 8 ? `${token.slice(0, 8)}…` : token;
}

/** Cuts device tokens and click references (which carry delivery ids and url-args) and leaves out user ids in a URL path. */
export function maskUrl(url: string): string {
  // User ids are personal data: none of one is logged (short ones would survive a cut).
  return url.replace(/\/(devices|click|shown|users)\/([^/?]+)/g, (_match, kind: string, token: string) => `/${kind}/${kind === 'users' ? (token === 'batch' ? token : '…') : maskToken(token)}`);
}

/**
 * Writes a plain line (not JSON) to the logger's own destination, so it lands after every log line
 * written before it: pino's stdout is asynchronous, and process.stdout.write could overtake them.
 */
export function writePlainLine(logger: Logger, line: string): void {
  const stream = (logger as unknown as Record<symbol, { write(text: string): unknown } | undefined>)[pino.symbols.streamSym];
  if (stream) stream.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
}

/** The service logger. Authorization headers and cookies are never written. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.passphrase', '*.privateKey'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
