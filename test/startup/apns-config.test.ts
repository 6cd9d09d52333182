import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../src/config/load';
import { createTestDatabase } from '../helpers/databases';
import { buildService, tempDir } from '../helpers/service';

function keyFile(kind: 'rsa' | 'p384'): string {
  const { privateKey } = kind === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const file = path.join(tempDir('safari-push-key-'), 'AuthKey.p8');
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return file;
}

describe('APNs settings at start-up', () => {
  test.each([
    ['the .p8 file is missing', { APNS_KEY_FILE: '/nonexistent/AuthKey.p8' }, 'APNS_KEY_FILE: /nonexistent/AuthKey.p8 is not a readable .p8'],
    ['the key is RSA', { APNS_KEY_FILE: keyFile('rsa') }, 'not a P-256 EC key'],
    ['the key is on another curve', { APNS_KEY_FILE: keyFile('p384') }, 'not a P-256 EC key'],
    ['only some token settings are given', { APNS_KEY_FILE: undefined, APNS_TEAM_ID: undefined }, 'go together'],
    ['the key ID has the wrong shape', { APNS_KEY_ID: 'short' }, 'APNS_KEY_ID'],
  ])('when %s, then the start stops with a clear error', async (_label, env, message) => {
    const database = createTestDatabase('sqlite');
    try {
      const start = buildService(database, { APNS_KEY_FILE: keyFile('p384'), APNS_KEY_ID: 'KEY1234567', APNS_TEAM_ID: 'TEAM123456', ...env });
      await expect(start).rejects.toThrow(ConfigError);
      await expect(start).rejects.toThrow(message);
    } finally {
      await database.drop();
    }
  });
});
