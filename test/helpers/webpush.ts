import fs from 'node:fs';
import path from 'node:path';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import { startPushStandIn, type PushStandIn } from '../../src/webpush-stand-in/server';
import { apnsEnv, createProviderKey, standIn } from './apns';
import { createTestDatabase, type BackendName, type TestDatabase } from './databases';
import { buildService, PUSH_ID, type TestService } from './service';

const FIXTURE = path.resolve(__dirname, '../fixtures/apns-stand-in');

/** The fixture TLS identity that NODE_EXTRA_CA_CERTS trusts. */
export const pushTls = () => ({ cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) });

/** A push service stand-in on a free port (HTTP/2 and HTTP/1.1), with the fixture TLS identity. */
export function pushStandIn(): Promise<PushStandIn> {
  return startPushStandIn({ host: '127.0.0.1', tls: pushTls() });
}

/** Lets the service post to the stand-in (its endpoints are on 127.0.0.1, at a port of its own). */
export const webPushEnv = { WEBPUSH_ENDPOINT_HOSTS: '127.0.0.1:*' };

/** An origin the packaged website.json allows (ALLOWED_DOMAINS). */
export const SITE_ORIGIN = 'https://example.com';

/**
 * An APNs stand-in (token auth), a push service stand-in and a service sending to both, on a fresh
 * database of `backend`, for the tests of a describe block.
 */
export function useBothStandIns(backend: BackendName, urlArgsCount: number, env: Record<string, string> = {}) {
  const key = createProviderKey();
  const state: { apns?: ApnsStandIn; push?: PushStandIn; database?: TestDatabase; service?: TestService } = {};
  beforeAll(async () => {
    state.apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount });
    state.push = await pushStandIn();
    state.database = createTestDatabase(backend);
    state.service = await buildService(state.database, { ...apnsEnv(state.apns, key), ...webPushEnv, ...env });
  });
  afterAll(async () => {
    await state.service?.close();
    await state.database?.drop();
    await Promise.all([state.apns?.close(), state.push?.close()]);
  });
  const get = <K extends keyof typeof state>(name: K): NonNullable<(typeof state)[K]> => {
    const value = state[name];
    if (!value) throw new Error(`${name} not started yet`);
    return value as NonNullable<(typeof state)[K]>;
  };
  return {
    get apns() {
      return get('apns');
    },
    get push() {
      return get('push');
    },
    get service() {
      return get('service');
    },
  };
}
