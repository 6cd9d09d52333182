import crypto from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import { FIXTURE_CA } from './harness';

/** Bare RSA-2048 signing with node:crypto on one core, over a manifest-sized input. */
export function rsaSignRate(seconds = 4): number {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = crypto.randomBytes(1200);
  let count = 0;
  const started = process.hrtime.bigint();
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    crypto.sign('sha256', data, privateKey);
    count++;
  }
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

function providerJwt(keyFile: string, keyId: string, teamId: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: keyId })).toString('base64url');
  const claims = Buffer.from(JSON.stringify({ iss: teamId, iat: Math.floor(Date.now() / 1000) })).toString('base64url');
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), { key: fs.readFileSync(keyFile), dsaEncoding: 'ieee-p1363' });
  return `${header}.${claims}.${signature.toString('base64url')}`;
}

/**
 * The send baseline: a bare node:http2 client sending the same APNs requests (headers, payload,
 * provider token) to the same stand-in, over `connections` sessions with `window` streams each.
 */
export async function bareHttp2Rate(options: {
  port: number;
  tokens: string[];
  connections: number;
  window: number;
  key: { file: string; keyId: string; teamId: string };
  payload: object;
}): Promise<{ rate: number; ok: number }> {
  const ca = fs.readFileSync(FIXTURE_CA);
  const authorization = `bearer ${providerJwt(options.key.file, options.key.keyId, options.key.teamId)}`;
  const body = JSON.stringify(options.payload);
  const sessions = await Promise.all(
    Array.from({ length: options.connections }, () => new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const session = http2.connect(`https://localhost:${options.port}`, { ca });
      session.once('connect', () => resolve(session));
      session.once('error', reject);
    })),
  );
  let next = 0;
  let ok = 0;
  const send = (session: http2.ClientHttp2Session, token: string) =>
    new Promise<void>((resolve) => {
      const req = session.request({
        ':method': 'POST',
        ':path': `/3/device/${token}`,
        authorization,
        'apns-topic': 'web.com.example',
        'apns-push-type': 'alert',
        'apns-priority': '10',
      });
      req.on('response', (headers) => {
        if (headers[':status'] === 200) ok++;
      });
      req.on('data', () => undefined);
      req.on('end', resolve);
      req.on('error', () => resolve());
      req.end(body);
    });
  const started = process.hrtime.bigint();
  await Promise.all(
    sessions.flatMap((session) =>
      Array.from({ length: options.window }, async () => {
        while (next < options.tokens.length) await send(session, options.tokens[next++]);
      }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  sessions.forEach((session) => session.close());
  return { rate: options.tokens.length / seconds, ok };
}

/**
 * The Web Push encryption floor: RFC 8291 as the issue measured it, one core, written out here
 * with node:crypto (createECDH + key agreement + HKDF + AES-128-GCM), not with the service's code.
 */
export function encryptOnlyRate(payload: string, seconds = 4): number {
  const receiver = crypto.createECDH('prime256v1');
  const uaPublic = receiver.generateKeys();
  const authSecret = crypto.randomBytes(16);
  const plaintext = Buffer.concat([Buffer.from(payload), Buffer.from([2])]);
  let count = 0;
  const started = process.hrtime.bigint();
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const sender = crypto.createECDH('prime256v1');
    const asPublic = sender.generateKeys();
    const secret = sender.computeSecret(uaPublic);
    const ikm = Buffer.from(crypto.hkdfSync('sha256', secret, authSecret, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]), 32));
    const salt = crypto.randomBytes(16);
    const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
    const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
    const cipher = crypto.createCipheriv('aes-128-gcm', cek, nonce);
    Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    count++;
  }
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}
