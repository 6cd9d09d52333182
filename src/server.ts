import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createApp } from './app';
import type { Clock } from './clock';
import { ConfigError, loadConfig, type Config } from './config/load';
import { closeContext, createContext, type AppContext } from './context';
import { createLogger, writePlainLine, type Logger } from './logger';
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

/**
 * Builds the context, resumes unfinished sends and listens. Resolves once the port is bound.
 * `clock` is the real one in production; the benchmark drives a campaign's time with its own.
 */
export async function start(config: Config, logger: Logger, clock?: Clock): Promise<RunningService> {
  const context = await createContext(config, logger, 'api', clock);
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

/**
 * The one plain line `npm start` prints after the JSON logs: where the service listens, where the
 * console is and where its key comes from (never the key itself).
 */
export function readyLine(address: AddressInfo, context: Pick<AppContext, 'generatedApiKeyFile'>): string {
  const host = address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = `http://${host}:${address.port}`;
  const file = context.generatedApiKeyFile ? path.relative(process.cwd(), context.generatedApiKeyFile) || context.generatedApiKeyFile : undefined;
  const key = file
    ? `the admin key is in ${file} (node -p "require('./${file.split(path.sep).join('/')}').apiKey")`
    : 'log in with one of API_KEYS';
  return `safari-push is ready: ${base} · admin console ${base}/admin · campaign studio ${base}/studio/ · ${key}`;
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
  // After the JSON logs, for a person at the terminal.
  writePlainLine(logger, readyLine(service.server.address() as AddressInfo, service.context));
  exitOnSignals(logger, config.shutdownTimeoutMs, 'Shutting down: finishing in-flight requests and sends', () => service.stop());
}

if (require.main === module) void main();
