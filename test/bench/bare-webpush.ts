import fs from 'node:fs';
import https from 'node:https';
import webpush from 'web-push';

/**
 * The Web Push sends baseline, in a process of its own: a bare `web-push` loop as an application
 * would write it, with the VAPID header signed once per origin (passed as a header) and 100
 * requests in flight on keep-alive HTTP/1.1 (web-push speaks nothing else). Prints RESULT {...}.
 */
interface Options {
  subscriptionsFile: string;
  window: number;
  payload: string;
  vapid: { publicKey: string; privateKey: string; subject: string };
  audience: string;
}

async function main(): Promise<void> {
  const options = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Options;
  const subscriptions = fs
    .readFileSync(options.subscriptionsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as webpush.PushSubscription);
  const agent = new https.Agent({ keepAlive: true, maxSockets: options.window });
  const { Authorization } = webpush.getVapidHeaders(options.audience, options.vapid.subject, options.vapid.publicKey, options.vapid.privateKey, 'aes128gcm') as { Authorization: string };
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < subscriptions.length) {
      const subscription = subscriptions[next++];
      try {
        const result = await webpush.sendNotification(subscription, options.payload, { TTL: 2419200, headers: { Authorization }, agent, contentEncoding: 'aes128gcm' });
        if (result.statusCode === 201) ok++;
      } catch {
        // counted as not ok
      }
    }
  };
  await Promise.all(Array.from({ length: options.window }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  process.stdout.write(`RESULT ${JSON.stringify({ rate: subscriptions.length / seconds, ok, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

void main();
