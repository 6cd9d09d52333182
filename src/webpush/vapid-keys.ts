import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import { ConfigError, type Config } from '../config/load';
import type { Logger } from '../logger';
import { ensurePrivateDir } from '../files';

/** The deployment's VAPID identity (RFC 8292): pages subscribe with the public key, sends are signed with the private one. */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/** File in DATA_DIR that keeps generated development VAPID keys, readable by the owner only. */
export const DEV_VAPID_FILE = 'dev-vapid.json';
const DEV_SUBJECT = 'mailto:webmaster@localhost';

/** Throws unless the private key is a P-256 scalar whose public point is `publicKey`. */
function checkPair(keys: VapidKeys, origin: string): void {
  const ecdh = crypto.createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(Buffer.from(keys.privateKey, 'base64url'));
  } catch {
    throw new ConfigError(`${origin}: the VAPID private key is not a valid P-256 key`);
  }
  if (ecdh.getPublicKey().toString('base64url') !== keys.publicKey) {
    throw new ConfigError(`${origin}: VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY`);
  }
}

/**
 * The configured VAPID keys, or a development pair kept in `<dataDir>/dev-vapid.json` (generated
 * once, with a warning). Subscriptions are bound to the public key: changing it orphans them all.
 */
export function resolveVapidKeys(config: Pick<Config, 'dataDir' | 'webPush'>, logger: Logger): VapidKeys {
  if (config.webPush.vapid) {
    checkPair(config.webPush.vapid, 'VAPID_PRIVATE_KEY');
    return { ...config.webPush.vapid };
  }
  const file = path.join(config.dataDir, DEV_VAPID_FILE);
  let keys: VapidKeys | undefined;
  if (fs.existsSync(file)) {
    keys = JSON.parse(fs.readFileSync(file, 'utf8')) as VapidKeys;
    checkPair(keys, file);
  } else {
    const generated = webpush.generateVAPIDKeys();
    keys = { publicKey: generated.publicKey, privateKey: generated.privateKey, subject: DEV_SUBJECT };
    ensurePrivateDir(config.dataDir);
    fs.writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  }
  logger.warn(
    { file },
    'VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY/VAPID_SUBJECT are not set: Web Push uses a generated development key pair. Set them in production; subscriptions belong to one key pair.',
  );
  return keys;
}
