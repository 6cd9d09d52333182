import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startPushStandIn } from './server';

/**
 * The push service stand-in as a process of its own, for load tests (`npm run bench`): lean by
 * default (VAPID and headers checked, nothing decrypted or kept), HTTP/2 and HTTP/1.1 unless
 * `--http1-only`. Endpoints are `<origin>/push/<any id>`; it prints how many it accepted on SIGTERM.
 */
const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/apns-stand-in');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'tls-cert': { type: 'string', default: path.join(FIXTURE, 'server.pem') },
      'tls-key': { type: 'string', default: path.join(FIXTURE, 'server.key') },
      'http1-only': { type: 'boolean', default: false },
    },
  });
  const push = await startPushStandIn({
    host: values.host,
    port: Number(values.port),
    tls: { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']) },
    protocols: values['http1-only'] ? ['http/1.1'] : ['h2', 'http/1.1'],
    lean: true,
  });
  process.stdout.write(`push stand-in listening on ${push.origin}\n`);
  process.on('SIGTERM', () => {
    process.stdout.write(`accepted ${push.accepted}\n`);
    void push.close().then(() => process.exit(0));
  });
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
