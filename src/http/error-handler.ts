import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../errors';
import { maskUrl, type Logger } from '../logger';

/** body-parser's error types, with the answer each deserves. */
const BODY_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  'entity.parse.failed': { status: 400, code: 'invalid_json', message: 'Request body is not valid JSON' },
  'entity.too.large': { status: 413, code: 'payload_too_large', message: 'Request body is too large' },
  'entity.verify.failed': { status: 400, code: 'invalid_body', message: 'Request body was rejected' },
  'encoding.unsupported': { status: 415, code: 'unsupported_encoding', message: 'Content-Encoding is not supported' },
  'charset.unsupported': { status: 415, code: 'unsupported_charset', message: 'Charset is not supported' },
  'request.aborted': { status: 400, code: 'request_aborted', message: 'Request was aborted' },
  'request.size.invalid': { status: 400, code: 'invalid_length', message: 'Request body length does not match Content-Length' },
  'stream.encoding.set': { status: 400, code: 'invalid_body', message: 'Request body could not be read' },
};

/** 404 for every route that does not exist. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError(404, 'not_found', `No route for ${req.method} ${req.path}`));
};

/** The one error middleware: 4xx say what was wrong, 5xx say nothing internal and are logged. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    let status = 500;
    let code = 'internal_error';
    let message = 'Internal server error';
    if (error instanceof AppError) {
      ({ status, code, message } = error);
    } else if (error && typeof error === 'object' && 'type' in error && typeof error.type === 'string' && BODY_ERRORS[error.type]) {
      ({ status, code, message } = BODY_ERRORS[error.type]);
    } else if (error && typeof error === 'object' && 'status' in error && typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
      status = error.status;
      code = 'bad_request';
      message = error instanceof Error && 'expose' in error && error.expose ? error.message : 'Bad request';
    }
    if (status >= 500) logger.error({ err: error, method: req.method, path: maskUrl(req.path) }, 'Request failed');
    if (res.headersSent) return;
    res.status(status).json({ error: { code, message } });
  };
}
