import readline from 'node:readline';
import type { Clock } from '../../src/clock';
import { loadConfig } from '../../src/config/load';
import { createLogger } from '../../src/logger';
import { start } from '../../src/server';

/**
 * The service as `npm start` runs it, with one difference: its clock runs at real speed from a
 * time the benchmark sets. A line `at <epoch ms>` on standard input moves the clock there (it
 * answers `clock <epoch ms>`), so a campaign due tomorrow in 40 time zones can be driven zone by
 * zone while each zone's work still takes real time. Benchmark only: production uses the real clock.
 */

let offset = 0;
const clock: Clock = { now: () => Date.now() + offset };

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const service = await start(config, logger, clock);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const match = /^at (\d+)$/.exec(line.trim());
    if (!match) return;
    offset = Number(match[1]) - Date.now();
    process.stdout.write(`clock ${match[1]}\n`);
  });
  process.stdout.write(`clocked service listening on ${JSON.stringify(service.server.address())}\n`);
  const stop = () => {
    lines.close();
    void service.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
