import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEV_CHAIN_FILES, ensureDevelopmentIdentity } from '../certs/dev-chain';
import { loadConfig } from '../config/load';
import { createLogger } from '../logger';
import { loadRawPackage } from '../safari/raw-package';
import { startApnsStandIn, type Answer } from './server';

/**
 * `npm run apns:dev`: the APNs stand-in as a development tool. It trusts the service's
 * development certificate chain (certificate auth) and, when given, a .p8 key (token auth),
 * prints every request, and answers by token prefix so a dead token can be watched being cleaned.
 */
const DEMO_ANSWERS: Array<[prefix: string, describe: string, answer: () => Answer]> = [
  ['dead', '410 Unregistered (token removed)', () => ({ status: 410, reason: 'Unregistered', timestamp: Date.now() })],
  ['bad0', '400 BadDeviceToken (token removed)', () => ({ status: 400, reason: 'BadDeviceToken' })],
  ['5030', '503 ServiceUnavailable (retried, then failed)', () => ({ status: 503, reason: 'ServiceUnavailable' })],
];

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/apns-stand-in');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '2197' },
      host: { type: 'string', default: '127.0.0.1' },
      'key-file': { type: 'string' },
      'key-id': { type: 'string' },
      'team-id': { type: 'string' },
      'tls-cert': { type: 'string', default: path.join(FIXTURE, 'server.pem') },
      'tls-key': { type: 'string', default: path.join(FIXTURE, 'server.key') },
      quiet: { type: 'boolean', default: false },
      'all-ok': { type: 'boolean', default: false },
    },
  });
  // Read the service's own settings so the stand-in trusts the chain the service will use.
  const config = loadConfig();
  if (config.signing.kind === 'development') {
    const pushId = loadRawPackage(config.packageDir, config.website).website.websitePushID;
    ensureDevelopmentIdentity(config.dataDir, pushId, createLogger('error'));
  }
  const devCerts = path.join(config.dataDir, 'dev-certs');
  const clientCa = [DEV_CHAIN_FILES.root, DEV_CHAIN_FILES.intermediate]
    .map((name) => path.join(devCerts, name))
    .filter((file) => fs.existsSync(file))
    .map((file) => fs.readFileSync(file));
  const providerKeys =
    values['key-file'] && values['key-id'] && values['team-id']
      ? [{ keyId: values['key-id'], teamId: values['team-id'], publicKey: crypto.createPublicKey(fs.readFileSync(values['key-file'])) }]
      : [];

  const apns = await startApnsStandIn({
    host: values.host,
    port: Number(values.port),
    tls: { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']) },
    clientCa: clientCa.length > 0 ? clientCa : undefined,
    providerKeys,
    record: false,
    onRequest: values.quiet ? undefined : (r) => {
      const title = (r.payload as { aps?: { alert?: { title?: string } } })?.aps?.alert?.title;
      process.stdout.write(`${new Date().toISOString()} ${r.status || 'reset'} ${r.reason ?? ''} topic=${r.headers['apns-topic']} token=${r.token.slice(0, 8)}… auth=${r.auth} title=${JSON.stringify(title)}\n`);
    },
  });
  if (!values['all-ok']) for (const [prefix, , answer] of DEMO_ANSWERS) apns.scriptPrefix(prefix, answer);

  process.stdout.write(
    [
      `APNs stand-in listening on https://${values.host}:${apns.port} (HTTP/2)`,
      `  certificate auth: ${clientCa.length > 0 ? `trusts the development chain in ${devCerts}` : 'off: the service has a configured certificate, so use token auth (--key-file …)'}`,
      `  token auth: ${providerKeys.length > 0 ? `trusts key ${values['key-id']} of team ${values['team-id']}` : 'pass --key-file --key-id --team-id to accept a .p8 key'}`,
      ...(values['all-ok']
        ? ['  answers 200 to every valid request (--all-ok)']
        : ['  answers by token prefix (anything else gets 200):', ...DEMO_ANSWERS.map(([prefix, describe]) => `    ${prefix}…  ${describe}`)]),
      'Point the service at it:',
      `  APNS_HOST=localhost APNS_PORT=${apns.port} NODE_EXTRA_CA_CERTS=${path.join(FIXTURE, 'ca.pem')} npm start`,
      '',
    ].join('\n'),
  );
  const shutdown = () => void apns.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

void main();
