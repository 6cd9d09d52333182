import type { RequestHandler } from 'express';
import { maskUrl, type Logger } from '../logger';

/**
 * One line per request at `info`: method, path with device tokens masked, status, milliseconds.
 * No headers are logged (Authorization carries secrets). Costs nothing when `info` is off.
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (!logger.isLevelEnabled('info')) return next();
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      logger.info(
        {
          req: { method: req.method, url: maskUrl(req.originalUrl) },
          res: { statusCode: res.statusCode },
          responseTime: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request completed',
      );
    });
    next();
  };
}
