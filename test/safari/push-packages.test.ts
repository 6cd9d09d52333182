import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { DEV_CHAIN_FILES } from '../../src/certs/dev-chain';
import { ICONS } from '../../src/safari/raw-package';
import { BACKENDS } from '../helpers/databases';
import { fetchPackage, opensslVerify, signatureCertificateSubjects } from '../helpers/package';
import { PUSH_ID, useService, type TestService } from '../helpers/service';

const EXPECTED_FILES = [...ICONS.map((icon) => `icon.iconset/${icon.file}`), 'website.json', 'manifest.json', 'signature'].sort();

const devRoot = (service: TestService) => fs.readFileSync(path.join(service.dataDir, 'dev-certs', DEV_CHAIN_FILES.root), 'utf8');

describe.each(BACKENDS)('pushPackages (%s)', (backend) => {
  const ctx = useService(backend);

  test('when Safari asks with v2, then it gets a zip with every file, SHA-512 hashes and a signature openssl accepts', async () => {
    const { res, files } = await fetchPackage(ctx.service, 'v2', { userId: 'alice' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect([...files.keys()].sort()).toEqual(EXPECTED_FILES);

    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Record<string, { hashType: string; hashValue: string }>;
    expect(Object.keys(manifest).sort()).toEqual(EXPECTED_FILES.filter((f) => f !== 'manifest.json' && f !== 'signature'));
    for (const [name, entry] of Object.entries(manifest)) {
      expect(entry.hashType).toBe('sha512');
      expect(entry.hashValue).toBe(crypto.createHash('sha512').update(files.get(name)!).digest('hex'));
    }

    const verified = opensslVerify(files.get('signature')!, files.get('manifest.json')!, devRoot(ctx.service));
    expect(verified).toEqual({ ok: true, output: expect.any(String) });
  });

  test('when Safari asks with v1, then the manifest holds SHA-1 hex strings and openssl accepts the signature', async () => {
    const { res, files } = await fetchPackage(ctx.service, 'v1', {});
    expect(res.status).toBe(200);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Record<string, string>;
    expect(Object.keys(manifest)).toHaveLength(7);
    for (const [name, hash] of Object.entries(manifest)) {
      expect(hash).toBe(crypto.createHash('sha1').update(files.get(name)!).digest('hex'));
    }
    expect(opensslVerify(files.get('signature')!, files.get('manifest.json')!, devRoot(ctx.service)).ok).toBe(true);
  });

  test('when the manifest is altered after signing, then openssl rejects the signature', async () => {
    const { files } = await fetchPackage(ctx.service, 'v2', {});
    const tampered = Buffer.from(files.get('manifest.json')!.toString().replace(/"hashValue": "./, '"hashValue": "0'));
    expect(tampered.equals(files.get('manifest.json')!)).toBe(false);
    const verified = opensslVerify(files.get('signature')!, tampered, devRoot(ctx.service));
    expect(verified.ok).toBe(false);
    expect(verified.output).toMatch(/verification failure|digest failure/i);
  });

  test('when a package is signed, then the signature carries the website push certificate and the intermediate', async () => {
    const { files } = await fetchPackage(ctx.service, 'v2', {});
    const subjects = signatureCertificateSubjects(files.get('signature')!);
    expect(subjects).toHaveLength(2);
    expect(subjects.some((s) => s.includes(`Website Push ID: ${PUSH_ID}`))).toBe(true);
    expect(subjects.some((s) => s.includes('WWDR'))).toBe(true);
  });

  test('when two anonymous packages are made, then each has its own long token and the same website fields', async () => {
    const first = await fetchPackage(ctx.service, 'v2', {});
    const second = await fetchPackage(ctx.service, 'v2', {});
    const a = JSON.parse(first.files.get('website.json')!.toString()) as Record<string, unknown>;
    const b = JSON.parse(second.files.get('website.json')!.toString()) as Record<string, unknown>;
    expect(String(a.authenticationToken).length).toBeGreaterThanOrEqual(16);
    expect(a.authenticationToken).not.toBe(b.authenticationToken);
    expect({ ...a, authenticationToken: null }).toEqual({ ...b, authenticationToken: null });
    expect(a).toMatchObject({ websitePushID: PUSH_ID, webServiceURL: 'https://push.example.com', websiteName: 'Example Site' });
  });

  test('when the same user asks again, then the cached package is served; another user or version gets a fresh one', async () => {
    const first = await fetchPackage(ctx.service, 'v2', { userId: 'cached-user' });
    const again = await fetchPackage(ctx.service, 'v2', { userId: 'cached-user' });
    const other = await fetchPackage(ctx.service, 'v2', { userId: 'other-user' });
    const v1 = await fetchPackage(ctx.service, 'v1', { userId: 'cached-user' });
    expect((again.res.body as Buffer).equals(first.res.body as Buffer)).toBe(true);
    expect((other.res.body as Buffer).equals(first.res.body as Buffer)).toBe(false);
    expect(v1.files.get('website.json')!.equals(first.files.get('website.json')!)).toBe(false);
  });

  test('when the push ID is unknown, then 404', async () => {
    const res = await request(ctx.service.app).post('/v2/pushPackages/web.com.other').send({});
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('unknown_website_push_id');
  });

  test('when the version is not v<digits>, then 404', async () => {
    const res = await request(ctx.service.app).post(`/x2/pushPackages/${PUSH_ID}`).send({});
    expect(res.status).toBe(404);
  });

  test('when there is no body at all, then an anonymous package is made', async () => {
    const res = await request(ctx.service.app).post(`/v2/pushPackages/${PUSH_ID}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
  });

  test.each([
    ['not JSON', '{"userId": ', 'invalid_json'],
    ['a JSON array', '["alice"]', 'invalid_user_info'],
    ['a userId that is an object', '{"userId": {"$ne": 1}}', 'validation_failed'],
    ['a userId over 255 characters', JSON.stringify({ userId: 'a'.repeat(256) }), 'validation_failed'],
  ])('when userInfo is %s, then 400', async (_label, body, code) => {
    const res = await request(ctx.service.app).post(`/v2/pushPackages/${PUSH_ID}`).set('Content-Type', 'application/json').send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
  });

  test('when userInfo is over 16 KB, then 413', async () => {
    const res = await request(ctx.service.app).post(`/v2/pushPackages/${PUSH_ID}`).send({ pad: 'x'.repeat(20_000) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });
});

describe('package cache turned off', () => {
  const ctx = useService('sqlite', { PACKAGE_CACHE_SIZE: '0' });

  test('when PACKAGE_CACHE_SIZE is 0, then the same user gets a freshly signed package each time', async () => {
    const first = await fetchPackage(ctx.service, 'v2', { userId: 'alice' });
    const second = await fetchPackage(ctx.service, 'v2', { userId: 'alice' });
    const token = (files: Map<string, Buffer>) => JSON.parse(files.get('website.json')!.toString()).authenticationToken;
    expect(token(first.files)).not.toBe(token(second.files));
    expect(ctx.service.context.authTokens.verify(token(second.files))?.userId).toBe('alice');
  });
});
