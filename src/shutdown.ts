import type { Logger } from './logger';

/**
 * On SIGTERM or SIGINT, runs `stop` once and exits 0 when it finishes, 1 when it fails or takes
 * longer than `timeoutMs` (what was not finished resumes at the next start).
 */
export function exitOnSignals(logger: Logger, timeoutMs: number, message: string, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, message);
    setTimeout(() => {
      logger.error({ timeoutMs }, 'Shutdown took too long; exiting (unfinished sends resume at the next start)');
      process.exit(1);
    }, timeoutMs).unref();
    stop().then(
      () => {
        logger.info('Stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
