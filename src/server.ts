import http from 'node:http';
import { createApp } from './app';
import { ConfigError, loadConfig, type Config } from './config/load';
import { closeContext, createContext, type AppContext } from './context';
import { createLogger, type Logger } from './logger';

export interface RunningService {
  server: http.Server;
  context: AppContext;
  /** Stops accepting connections, lets in-flight requests and sends reach a safe point, closes the database. */
  stop(): Promise<void>;
}

/** Builds the context and listens. Resolves once the port is bound. */
export async function start(config: Config, logger: Logger): Promise<RunningService> {
  const context = await createContext(config, logger);
  const server = http.createServer(createApp(context));
  // Deliberate timeouts: slow clients must not hold sockets forever.
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  await context.queue.resume();
  const address = server.address();
  logger.info({ address, websitePushID: context.website.websitePushID }, 'safari-push listening');
  return {
    server,
    context,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await closeContext(context);
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  let service: RunningService;
  try {
    service = await start(config, logger);
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal(error.message);
    else logger.fatal({ err: error }, 'safari-push failed to start');
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'Shutting down');
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (require.main === module) void main();
