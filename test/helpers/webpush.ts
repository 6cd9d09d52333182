import fs from 'node:fs';
import path from 'node:path';
import { startPushStandIn, type PushStandIn } from '../../src/webpush-stand-in/server';

const FIXTURE = path.resolve(__dirname, '../fixtures/apns-stand-in');

/** A push service stand-in on a free port, with the fixture TLS identity that NODE_EXTRA_CA_CERTS trusts. */
export function pushStandIn(): Promise<PushStandIn> {
  return startPushStandIn({
    host: '127.0.0.1',
    tls: { cert: fs.readFileSync(path.join(FIXTURE, 'server.pem')), key: fs.readFileSync(path.join(FIXTURE, 'server.key')) },
  });
}

/** Lets the service post to the stand-in (its endpoints are on 127.0.0.1). */
export const webPushEnv = { WEBPUSH_ENDPOINT_HOSTS: '127.0.0.1' };

/** An origin the packaged website.json allows (ALLOWED_DOMAINS). */
export const SITE_ORIGIN = 'https://example.com';
