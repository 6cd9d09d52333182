import fs from 'node:fs';
import { useLeanAsyncBind } from '../../src/apns/lean-async-bind';
import { bareHttp2Rate } from './baselines';

/**
 * The sends baseline in a process of its own, like the service: the bench process has run load
 * generators by then, and its heap would slow a baseline measured inside it.
 * Arguments: a JSON file with { port, tokensFile, connections, window, key, payload, leanBind }.
 * `leanBind` gives this process the AsyncResource.bind replacement the service's APNs threads use.
 */
async function main(): Promise<void> {
  const options = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Omit<Parameters<typeof bareHttp2Rate>[0], 'tokens'> & { tokensFile: string; leanBind: boolean };
  if (options.leanBind && !useLeanAsyncBind()) throw new Error('this Node has no AsyncResource.bind accessor to leave out');
  const tokens = fs.readFileSync(options.tokensFile, 'utf8').split('\n').filter(Boolean);
  const before = process.cpuUsage();
  const result = await bareHttp2Rate({ ...options, tokens });
  const cpu = process.cpuUsage(before);
  process.stdout.write(`RESULT ${JSON.stringify({ ...result, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
