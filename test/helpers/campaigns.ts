import request from 'supertest';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import type { Clock } from '../../src/clock';
import { apnsEnv, createProviderKey, standIn } from './apns';
import { createTestDatabase, type BackendName, type TestDatabase } from './databases';
import { API_KEY, buildService, PUSH_ID, type TestService } from './service';

const bearer = `Bearer ${API_KEY}`;

/**
 * One service per test file for campaign tests: the APNs stand-in (two url-args), the given clock,
 * scheduler rounds only by hand (tick) and no timed housekeeping; with the API calls they use.
 */
export function useCampaignService(backend: BackendName, clock: Clock, env: Record<string, string> = {}) {
  // With click tracking a Safari payload carries one url-arg (the click reference), not the site's two.
  const urlArgsCount = env.CLICK_TRACKING === 'true' ? 1 : 2;
  const key = createProviderKey();
  const state: { apns?: ApnsStandIn; database?: TestDatabase; service?: TestService } = {};
  beforeAll(async () => {
    state.apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount });
    state.database = createTestDatabase(backend);
    state.service = await buildService(state.database, { ...apnsEnv(state.apns, key), SCHEDULER_INTERVAL_MS: '0', ...env }, { clock });
    await state.service.context.housekeeping?.stop();
  });
  afterAll(async () => {
    await state.service?.close();
    await state.database?.drop();
    await state.apns?.close();
  });
  const service = () => {
    if (!state.service) throw new Error('service not built yet');
    return state.service;
  };
  const api = () => request(service().app);
  return {
    get service() {
      return service();
    },
    get apns() {
      if (!state.apns) throw new Error('stand-in not started yet');
      return state.apns;
    },
    api,
    post: (path: string, body?: object) => {
      const call = api().post(`/api/v1${path}`).set('Authorization', bearer);
      return body === undefined ? call : call.send(body);
    },
    get: (path: string) => api().get(`/api/v1${path}`).set('Authorization', bearer),
    patch: (path: string, body: object) => api().patch(`/api/v1${path}`).set('Authorization', bearer).send(body),
    tick: () => service().context.scheduler.tick(),
  };
}
