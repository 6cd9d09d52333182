import type { RequestHandler } from 'express';
import { AppError } from '../errors';

/** A body error as body-parser names them, so the error handler answers them alike (400, 413). */
function bodyError(type: 'entity.parse.failed' | 'entity.too.large' | 'request.aborted', message: string): Error {
  return Object.assign(new Error(message), { type, status: type === 'entity.too.large' ? 413 : 400, expose: true });
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/** Sizes as the limits are written: `8kb`, `512kb`, `1mb`. */
function bytes(limit: string): number {
  const match = /^(\d+)(kb|mb)$/.exec(limit);
  if (!match) throw new Error(`limit ${limit} is not like 8kb or 1mb`);
  return Number(match[1]) * (match[2] === 'kb' ? 1024 : 1024 * 1024);
}

/**
 * The JSON body of the API's routes, read here rather than by body-parser: these bodies are small
 * (a subscription is about 300 bytes) and come thousands of times a second, and body-parser's
 * general machinery (charset decoding, inflation, streams of any size) cost as much CPU as the rest
 * of a subscription. Accepted: `application/json` (or a `+json` type) in UTF-8, an object or array
 * at the top (strict, as body-parser's default), at most `limit` bytes. Unlike body-parser, a
 * compressed body (Content-Encoding) and charsets other than UTF-8 are a 415 rather than decoded,
 * and a byte order mark is not skipped (JSON text must not begin with one, RFC 8259 §8.1). 413
 * past the limit, 400 for JSON that does not parse or a request aborted mid-body. A request
 * without a body leaves `req.body` undefined (the route then says it is missing).
 */
export function jsonBody(limit: string): RequestHandler[] {
  const max = bytes(limit);
  const read: RequestHandler = (req, res, next) => {
    const length = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (!chunked && (length === undefined || Number(length) === 0)) return next();
    const type = req.headers['content-type'];
    if (type === undefined || !JSON_TYPE.test(type)) {
      return next(new AppError(415, 'unsupported_media_type', `Send the body as JSON with Content-Type: application/json${type ? ` (got ${JSON.stringify(type.slice(0, 100))})` : ' (none was given)'}`));
    }
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return next(new AppError(415, 'unsupported_media_type', `Send JSON in UTF-8, not ${JSON.stringify(charset.slice(0, 40))}`));
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      return next(new AppError(415, 'unsupported_media_type', 'Send the body uncompressed (no Content-Encoding)'));
    }
    if (length !== undefined && Number(length) > max) {
      // Not read: discarded, and the connection closed after the answer so a client cannot go on uploading.
      res.setHeader('Connection', 'close');
      req.resume();
      return next(bodyError('entity.too.large', 'Request body is too large'));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > max) {
        failed = true;
        chunks.length = 0;
        res.setHeader('Connection', 'close');
        next(bodyError('entity.too.large', 'Request body is too large'));
        return;
      }
      chunks.push(chunk);
    });
    // A client that hangs up mid-body: a 400 nobody reads, never a 5xx.
    req.once('error', () => {
      if (failed) return;
      failed = true;
      next(bodyError('request.aborted', 'The request was aborted before its body arrived'));
    });
    req.once('end', () => {
      if (failed) return;
      if (size === 0) return next();
      const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8');
      // Strict, as body-parser's default: only an object or an array at the top.
      const first = /^[\x20\x09\x0a\x0d]*(.)/.exec(text)?.[1];
      if (first !== '{' && first !== '[') return next(bodyError('entity.parse.failed', 'Request body is not valid JSON'));
      try {
        req.body = JSON.parse(text) as unknown;
      } catch {
        return next(bodyError('entity.parse.failed', 'Request body is not valid JSON'));
      }
      next();
    });
  };
  return [read];
}
