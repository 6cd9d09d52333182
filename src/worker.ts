import { ConfigError, loadConfig } from './config/load';
import { closeContext, createContext } from './context';
import { createLogger } from './logger';
import { exitOnSignals } from './shutdown';

/**
 * `npm run worker`: a process that only sends. Needs QUEUE_URL (BullMQ on Redis) and a database
 * shared with the API (PostgreSQL). Run as many as the sends need, on as many machines.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    if (!config.queue.url) throw new ConfigError('QUEUE_URL is required for npm run worker: workers take send batches from BullMQ on Redis');
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel).child({ role: 'worker' });
  let context;
  try {
    context = await createContext(config, logger, 'worker');
  } catch (error) {
    logger.fatal(error instanceof ConfigError ? error.message : { err: error }, 'worker failed to start');
    process.exit(1);
  }
  logger.info({ queue: config.queue.name, concurrency: config.queue.concurrency }, 'safari-push worker ready');
  exitOnSignals(logger, config.shutdownTimeoutMs, 'Worker shutting down: in-flight batches record what they sent, the rest goes back to the queue', () => closeContext(context));
}

void main();
