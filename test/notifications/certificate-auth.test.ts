import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { DEV_CHAIN_FILES, ensureDevelopmentIdentity, generateChain } from '../../src/certs/dev-chain';
import { createLogger } from '../../src/logger';
import { apnsEnv, deviceToken, standIn } from '../helpers/apns';
import { BACKENDS, createTestDatabase } from '../helpers/databases';
import { API_KEY, buildService, PUSH_ID, tempDir } from '../helpers/service';

/** A data folder whose development chain exists already, so the stand-in can trust its root before the service starts. */
function dataDirWithChain(): { dir: string; trusted: string[] } {
  const dir = tempDir();
  ensureDevelopmentIdentity(dir, PUSH_ID, createLogger('silent'));
  const read = (name: string) => fs.readFileSync(path.join(dir, 'dev-certs', name), 'utf8');
  return { dir, trusted: [read(DEV_CHAIN_FILES.root), read(DEV_CHAIN_FILES.intermediate)] };
}

describe.each(BACKENDS)('APNs certificate auth (%s)', (backend) => {
  test.each([
    ['the website push certificate is trusted', true],
    ['APNs does not trust the certificate', false],
  ])('when %s, then the send goes out over TLS client auth or fails with 403 keeping the device', async (_label, trusted) => {
    const chain = dataDirWithChain();
    const other = generateChain(PUSH_ID);
    const apns = await standIn({ clientCa: trusted ? chain.trusted : [other.rootCert, other.intermediateCert], urlArgsCount: 2 });
    const database = createTestDatabase(backend);
    const service = await buildService(database, { DATA_DIR: chain.dir, ...apnsEnv(apns) });
    try {
      const token = deviceToken();
      await service.context.devices.register({ token, websitePushId: PUSH_ID, userId: null, now: Date.now() });
      const res = await request(service.app)
        .post('/api/v1/notifications?wait=true')
        .set('Authorization', `Bearer ${API_KEY}`)
        .send({ title: 'Hello', body: 'From a certificate', urlArgs: ['a', 'b'], to: { tokens: [token] } });
      expect(apns.requests).toHaveLength(1);
      expect(apns.requests[0].auth).toBe('certificate');
      if (trusted) {
        expect(res.body).toMatchObject({ status: 'completed', counts: { sent: 1 } });
      } else {
        expect(apns.requests[0]).toMatchObject({ status: 403, reason: 'BadCertificate' });
        expect(res.body).toMatchObject({ status: 'failed', counts: { failed: 1, removed: 0 } });
        expect(await service.context.devices.findByToken(token)).toBeDefined();
      }
    } finally {
      await service.close();
      await database.drop();
      await apns.close();
    }
  });
});
