import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startApnsStandIn, type ApnsStandIn, type StandInOptions } from '../../src/apns-stand-in/server';
import { createTestDatabase, type BackendName, type TestDatabase } from './databases';
import { buildService, REPO_ROOT, tempDir, type TestService } from './service';

const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/apns-stand-in');

if (process.env.NODE_EXTRA_CA_CERTS !== path.join(FIXTURE, 'ca.pem')) {
  throw new Error('Run the tests through jest.config.js (npm test): it sets NODE_EXTRA_CA_CERTS so the APNs stand-in is trusted');
}

/** An APNs provider key (.p8) on disk, and what the stand-in needs to trust it. */
export interface ProviderKey {
  file: string;
  keyId: string;
  teamId: string;
  publicKey: crypto.KeyObject;
}

export function createProviderKey(keyId = 'KEY1234567', teamId = 'TEAM123456'): ProviderKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const file = path.join(tempDir('safari-push-p8-'), `AuthKey_${keyId}.p8`);
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { file, keyId, teamId, publicKey };
}

/** The stand-in on a free port with the fixture TLS identity that NODE_EXTRA_CA_CERTS trusts. */
export function standIn(options: Omit<StandInOptions, 'tls'>): Promise<ApnsStandIn> {
  return startApnsStandIn({
    ...options,
    tls: { cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) },
  });
}

/** Environment that points the service at a stand-in with token auth and fast retries. */
export function apnsEnv(apns: ApnsStandIn, key?: ProviderKey, extra: Record<string, string> = {}): Record<string, string> {
  return {
    APNS_HOST: 'localhost',
    APNS_PORT: String(apns.port),
    APNS_RETRY_BASE_MS: '5',
    APNS_MAX_ATTEMPTS: '3',
    APNS_REQUEST_TIMEOUT_MS: '1000',
    ...(key ? { APNS_KEY_FILE: key.file, APNS_KEY_ID: key.keyId, APNS_TEAM_ID: key.teamId } : {}),
    ...extra,
  };
}

/** A random device token, as Safari reports one. */
export const deviceToken = (prefix = ''): string => (prefix + crypto.randomBytes(32).toString('hex')).slice(0, 64);

/**
 * One stand-in (token auth) and one service pointed at it, on a fresh database of `backend`, for
 * the tests of a describe block.
 */
export function useApnsService(backend: BackendName, standInOptions: Omit<StandInOptions, 'tls' | 'providerKeys'> = {}) {
  const key = createProviderKey();
  const state: { apns?: ApnsStandIn; database?: TestDatabase; service?: TestService } = {};
  beforeAll(async () => {
    state.apns = await standIn({ providerKeys: [key], ...standInOptions });
    state.database = createTestDatabase(backend);
    state.service = await buildService(state.database, apnsEnv(state.apns, key));
  });
  afterAll(async () => {
    await state.service?.close();
    await state.database?.drop();
    await state.apns?.close();
  });
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useApnsService: used before beforeAll ran');
    return value;
  };
  return {
    get apns() {
      return need(state.apns);
    },
    get service() {
      return need(state.service);
    },
  };
}
