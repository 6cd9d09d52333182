import express, { type RequestHandler } from 'express';
import { AppError } from '../errors';

/**
 * A JSON body parser that says so when a body comes with another Content-Type (express.json would
 * leave it unread, and the route would then report every field as missing): 415 with what to send.
 */
export function jsonBody(limit: string): RequestHandler[] {
  const parse = express.json({ limit });
  const typeCheck: RequestHandler = (req, _res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !req.is('application/json')) {
      const given = req.headers['content-type'];
      next(new AppError(415, 'unsupported_media_type', `Send the body as JSON with Content-Type: application/json${given ? ` (got ${JSON.stringify(given.slice(0, 100))})` : ' (none was given)'}`));
      return;
    }
    next();
  };
  return [typeCheck, parse];
}
