import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { generateChain, type ChainPems } from '../../src/certs/dev-chain';
import { ConfigError } from '../../src/config/load';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { fetchPackage, opensslVerify } from '../helpers/package';
import { buildService, PUSH_ID, tempDir, type TestService } from '../helpers/service';

/** Writes a chain as a deployment would have it: PEM files, and a .p12 made by the openssl CLI. */
function writeChain(chain: ChainPems): { dir: string; cert: string; key: string; wwdr: string; p12: string } {
  const dir = tempDir('safari-push-identity-');
  const file = (name: string, content: string) => {
    fs.writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };
  const cert = file('cert.pem', chain.leafCert);
  const key = file('key.pem', chain.leafKey);
  const wwdr = file('wwdr.pem', chain.intermediateCert);
  const p12 = path.join(dir, 'identity.p12');
  // OpenSSL 3's default .p12 (AES-256, PBKDF2), as a current Keychain export would be.
  execFileSync('openssl', ['pkcs12', '-export', '-in', cert, '-inkey', key, '-out', p12, '-passout', 'pass:correct horse']);
  return { dir, cert, key, wwdr, p12 };
}

describe('signing identity', () => {
  let database: TestDatabase;
  const services: TestService[] = [];
  const build = async (env: Record<string, string | undefined>) => {
    const service = await buildService(database, env);
    services.push(service);
    return service;
  };
  beforeEach(() => {
    database = createTestDatabase('sqlite');
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.close()));
    await database.drop();
  });

  const chain = generateChain(PUSH_ID);
  const files = writeChain(chain);

  test('when a .p12 and WWDR are configured, then packages are signed by them and openssl verifies against their root', async () => {
    const service = await build({ SIGNING_P12: files.p12, SIGNING_P12_PASSPHRASE: 'correct horse', WWDR_CERT: files.wwdr });
    expect(service.context.identity.development).toBe(false);
    const { files: pkg } = await fetchPackage(service, 'v2', {});
    expect(opensslVerify(pkg.get('signature')!, pkg.get('manifest.json')!, chain.rootCert).ok).toBe(true);
    expect(fs.existsSync(path.join(service.dataDir, 'dev-certs'))).toBe(false);
  });

  test('when PEM files are configured, then packages verify against their root and not against another one', async () => {
    const service = await build({ SIGNING_CERT: files.cert, SIGNING_KEY: files.key, WWDR_CERT: files.wwdr });
    const { files: pkg } = await fetchPackage(service, 'v1', {});
    expect(opensslVerify(pkg.get('signature')!, pkg.get('manifest.json')!, chain.rootCert).ok).toBe(true);
    expect(opensslVerify(pkg.get('signature')!, pkg.get('manifest.json')!, generateChain(PUSH_ID).rootCert).ok).toBe(false);
  });

  test('when the .p12 passphrase is wrong, then the start stops naming SIGNING_P12_PASSPHRASE without repeating it', async () => {
    const start = build({ SIGNING_P12: files.p12, SIGNING_P12_PASSPHRASE: 'wrong-secret-words', WWDR_CERT: files.wwdr });
    await expect(start).rejects.toThrow('SIGNING_P12_PASSPHRASE');
    await expect(start).rejects.not.toThrow('wrong-secret-words');
  });

  test('when the WWDR intermediate expires within 30 days, then the start warns', async () => {
    const soon = writeChain(generateChain(PUSH_ID, { caDays: 20 }));
    const service = await build({ SIGNING_CERT: soon.cert, SIGNING_KEY: soon.key, WWDR_CERT: soon.wwdr });
    expect(service.logs.messages(40)).toContain('The WWDR intermediate expires in 19 days: renew it');
  });

  test('when a .p12 identity is used, then neither its passphrase nor its key reach the logs', async () => {
    const service = await build({ SIGNING_P12: files.p12, SIGNING_P12_PASSPHRASE: 'correct horse', WWDR_CERT: files.wwdr });
    await fetchPackage(service, 'v2', { userId: 'zed' });
    const written = service.logs.raw.join('\n');
    expect(written).not.toContain('correct horse');
    expect(written).not.toContain('PRIVATE KEY');
  });

  test('when the key belongs to another certificate, then the start stops', async () => {
    const other = writeChain(generateChain(PUSH_ID));
    await expect(build({ SIGNING_CERT: files.cert, SIGNING_KEY: other.key, WWDR_CERT: files.wwdr })).rejects.toThrow('does not match its private key');
  });

  test('when the certificate is for another push ID, then the start stops naming both', async () => {
    const other = writeChain(generateChain('web.com.other'));
    const start = build({ SIGNING_CERT: other.cert, SIGNING_KEY: other.key, WWDR_CERT: other.wwdr });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow('is for web.com.other but websitePushID is web.com.example');
  });

  test('when WWDR_CERT did not issue the certificate, then the start stops', async () => {
    const other = writeChain(generateChain(PUSH_ID));
    await expect(build({ SIGNING_CERT: files.cert, SIGNING_KEY: files.key, WWDR_CERT: other.wwdr })).rejects.toThrow('WWDR_CERT did not issue');
  });

  test('when a file is missing, then the start stops naming the variable', async () => {
    await expect(build({ SIGNING_CERT: '/nonexistent.pem', SIGNING_KEY: files.key, WWDR_CERT: files.wwdr })).rejects.toThrow('SIGNING_CERT: cannot read');
  });

  test('when the certificate expires within 30 days, then the start warns', async () => {
    const soon = writeChain(generateChain(PUSH_ID, { leafDays: 10 }));
    const service = await build({ SIGNING_CERT: soon.cert, SIGNING_KEY: soon.key, WWDR_CERT: soon.wwdr });
    expect(service.logs.messages(40)).toContain('The website push certificate expires in 9 days: renew it');
  });

  test('when the certificate has expired, then the start stops', async () => {
    const expired = writeChain(generateChain(PUSH_ID, { leafDays: -0.5 }));
    await expect(build({ SIGNING_CERT: expired.cert, SIGNING_KEY: expired.key, WWDR_CERT: expired.wwdr })).rejects.toThrow('expired');
  });

  test('when nothing is configured, then a development chain is generated once, reused after a restart, and warned about', async () => {
    const dataDir = tempDir();
    const first = await build({ DATA_DIR: dataDir, AUTH_TOKEN_SECRET: undefined, API_KEYS: undefined });
    expect(first.context.identity.development).toBe(true);
    expect(first.logs.messages(40).some((m) => m.includes('Safari REJECTS'))).toBe(true);
    const { files: pkg } = await fetchPackage(first, 'v2', { userId: 'dana' });
    const token = (JSON.parse(pkg.get('website.json')!.toString()) as { authenticationToken: string }).authenticationToken;

    const second = await build({ DATA_DIR: dataDir, AUTH_TOKEN_SECRET: undefined, API_KEYS: undefined });
    expect(second.context.identity.certificatePem).toBe(first.context.identity.certificatePem);
    // The generated secret survived the restart: the first instance's token still registers.
    await request(second.app)
      .post(`/v2/devices/${'c'.repeat(64)}/registrations/${PUSH_ID}`)
      .set('Authorization', `ApplePushNotifications ${token}`)
      .expect(200);
    expect((await second.context.devices.findByToken('c'.repeat(64)))?.userId).toBe('dana');

    const secrets = JSON.parse(fs.readFileSync(path.join(dataDir, 'dev-secrets.json'), 'utf8')) as Record<string, string>;
    const allLogs = [...first.logs.raw, ...second.logs.raw].join('\n');
    expect(allLogs).not.toContain(secrets.authTokenSecret);
    expect(allLogs).not.toContain(secrets.apiKey);
    expect(allLogs).not.toContain('PRIVATE KEY');
  });

  test('when the push ID changes, then the development chain is regenerated for it', async () => {
    const dataDir = tempDir();
    const first = await build({ DATA_DIR: dataDir });
    const second = await build({ DATA_DIR: dataDir, WEBSITE_PUSH_ID: 'web.com.acme' });
    expect(second.context.identity.certificatePem).not.toBe(first.context.identity.certificatePem);
  });
});
