import http from 'node:http';
import { createApp } from './app';
import { ConfigError, loadConfig, type Config } from './config/load';
import { closeContext, createContext, type AppContext } from './context';
import { createLogger, type Logger } from './logger';
import { exitOnSignals } from './shutdown';

export interface RunningService {
  server: http.Server;
  context: AppContext;
  /**
   * Graceful stop: readiness turns 503, the listener closes, in-flight requests finish, running
   * sends record what they did and leave the rest pending for the next start, then the database closes.
   */
  stop(): Promise<void>;
}

/** Builds the context, resumes unfinished sends and listens. Resolves once the port is bound. */
export async function start(config: Config, logger: Logger): Promise<RunningService> {
  const context = await createContext(config, logger);
  const server = http.createServer(createApp(context));
  // Deliberate timeouts: slow clients must not hold sockets forever.
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, resolve);
    });
    await context.queue.resume();
  } catch (error) {
    server.close();
    await closeContext(context);
    throw error;
  }
  logger.info({ address: server.address(), websitePushID: context.website.websitePushID }, 'safari-push listening');

  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Keep-alive sockets with no request in flight would hold close() open.
      server.closeIdleConnections();
    });
  return {
    server,
    context,
    async stop() {
      context.state.shuttingDown = true;
      await Promise.all([closeServer(), context.queue.stop()]);
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
  exitOnSignals(logger, config.shutdownTimeoutMs, 'Shutting down: finishing in-flight requests and sends', () => service.stop());
}

if (require.main === module) void main();
