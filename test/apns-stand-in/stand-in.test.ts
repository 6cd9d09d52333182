import crypto from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import type { ApnsStandIn } from '../../src/apns-stand-in/server';
import { createProviderKey, deviceToken, standIn } from '../helpers/apns';
import { PUSH_ID } from '../helpers/service';

const key = createProviderKey();

/** A provider JWT as APNs expects it: ES256, kid, iss, iat. */
function jwt(claims: { iss?: string; iat?: number } = {}, kid = key.keyId, signer = key.file): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ iss: key.teamId, iat: Math.floor(Date.now() / 1000), ...claims })).toString('base64url');
  const privateKey = crypto.createPrivateKey(fs.readFileSync(signer));
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${body}`), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${header}.${body}.${signature}`;
}

const PAYLOAD = { aps: { alert: { title: 't', body: 'b' }, 'url-args': ['x'] } };

describe('the APNs stand-in', () => {
  let apns: ApnsStandIn;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    apns = await standIn({ providerKeys: [key], topics: [PUSH_ID], urlArgsCount: 1 });
    session = http2.connect(`https://localhost:${apns.port}`);
  });
  afterAll(async () => {
    session.close();
    await apns.close();
  });

  /** One raw HTTP/2 request, as any APNs client would make it. */
  function post(headers: Record<string, string>, body: string | object = PAYLOAD, path = `/3/device/${deviceToken()}`): Promise<{ status: number; reason?: string }> {
    return new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        authorization: `bearer ${jwt()}`,
        'apns-topic': PUSH_ID,
        'apns-push-type': 'alert',
        ...headers,
      });
      let status = 0;
      let data = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (chunk: Buffer) => (data += chunk.toString()));
      req.on('end', () => resolve({ status, ...(data ? (JSON.parse(data) as { reason: string }) : {}) }));
      req.on('error', reject);
      req.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  }

  test('when the request is what APNs expects, then 200', async () => {
    expect(await post({ 'apns-priority': '10', 'apns-expiration': '0', 'apns-collapse-id': 'x', 'apns-id': crypto.randomUUID() })).toEqual({ status: 200 });
  });

  test.each([
    [{ 'apns-topic': '' }, PAYLOAD, 400, 'MissingTopic'],
    [{ 'apns-topic': 'web.com.other' }, PAYLOAD, 400, 'TopicDisallowed'],
    [{ 'apns-push-type': 'background' }, PAYLOAD, 400, 'InvalidPushType'],
    [{ 'apns-priority': '7' }, PAYLOAD, 400, 'BadPriority'],
    [{ 'apns-expiration': 'soon' }, PAYLOAD, 400, 'BadExpirationDate'],
    [{ 'apns-collapse-id': 'c'.repeat(65) }, PAYLOAD, 400, 'BadCollapseId'],
    [{ 'apns-id': 'not-a-uuid' }, PAYLOAD, 400, 'BadMessageId'],
    [{}, '', 400, 'PayloadEmpty'],
    [{}, { ...PAYLOAD, pad: 'x'.repeat(4100) }, 413, 'PayloadTooLarge'],
    [{}, '{not json', 400, 'BadPayload'],
    [{}, { aps: { alert: 'just text', 'url-args': ['x'] } }, 400, 'BadSafariAlert'],
    [{}, { aps: { alert: { title: 't' }, 'url-args': ['x'] } }, 400, 'BadSafariAlert'],
    [{}, { aps: { alert: { title: 't', body: 'b' } } }, 400, 'BadUrlArgs'],
    [{}, { aps: { alert: { title: 't', body: 'b' }, 'url-args': ['x', 'y'] } }, 400, 'BadUrlArgs'],
    [{ authorization: '' }, PAYLOAD, 403, 'MissingProviderToken'],
    [{ authorization: `bearer ${jwt({ iss: 'OTHERTEAM1' })}` }, PAYLOAD, 403, 'InvalidProviderToken'],
    [{ authorization: `bearer ${jwt({}, 'UNKNOWNKEY')}` }, PAYLOAD, 403, 'InvalidProviderToken'],
    [{ authorization: `bearer ${jwt({}, key.keyId, createProviderKey().file)}` }, PAYLOAD, 403, 'InvalidProviderToken'],
    [{ authorization: `bearer ${jwt({ iat: Math.floor(Date.now() / 1000) - 3700 })}` }, PAYLOAD, 403, 'ExpiredProviderToken'],
  ])('when headers are %p, then it answers %#', async (headers, body, status, reason) => {
    expect(await post(headers as Record<string, string>, body)).toEqual({ status, reason });
  });

  test('when the path or token is wrong, then 404 BadPath or 400 BadDeviceToken', async () => {
    expect(await post({}, PAYLOAD, '/3/other')).toEqual({ status: 404, reason: 'BadPath' });
    expect(await post({}, PAYLOAD, '/3/device/xyz')).toEqual({ status: 400, reason: 'BadDeviceToken' });
  });

  test('when a token is scripted, then it answers the script in order and repeats the last answer', async () => {
    const token = deviceToken();
    apns.script(token, { status: 503, reason: 'ServiceUnavailable' }, { status: 410, reason: 'Unregistered', timestamp: 42 });
    const path = `/3/device/${token}`;
    expect(await post({}, PAYLOAD, path)).toEqual({ status: 503, reason: 'ServiceUnavailable' });
    expect(await post({}, PAYLOAD, path)).toEqual({ status: 410, reason: 'Unregistered', timestamp: 42 });
    expect(await post({}, PAYLOAD, path)).toEqual({ status: 410, reason: 'Unregistered', timestamp: 42 });
  });
});
