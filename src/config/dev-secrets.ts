import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger';
import { ensurePrivateDir } from '../files';

interface DevSecrets {
  authTokenSecret: string;
  apiKey: string;
}

/** File in DATA_DIR that keeps the generated secrets across restarts, readable by the owner only. */
export const DEV_SECRETS_FILE = 'dev-secrets.json';

function readSecrets(file: string): Partial<DevSecrets> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<DevSecrets>;
  } catch {
    return {};
  }
}

/**
 * Returns the configured secrets, or development ones kept in `<dataDir>/dev-secrets.json`
 * (generated on first use). The values are never logged: the warning names the file.
 */
export function resolveSecrets(
  dataDir: string,
  configured: { authTokenSecrets: readonly string[]; apiKeys: readonly string[] },
  logger: Logger,
): { authTokenSecrets: string[]; apiKeys: string[]; generatedApiKeyFile?: string } {
  const file = path.join(dataDir, DEV_SECRETS_FILE);
  const needToken = configured.authTokenSecrets.length === 0;
  const needKey = configured.apiKeys.length === 0;
  if (!needToken && !needKey) return { authTokenSecrets: [...configured.authTokenSecrets], apiKeys: [...configured.apiKeys] };

  const stored = readSecrets(file);
  const secrets: DevSecrets = {
    authTokenSecret: stored.authTokenSecret ?? crypto.randomBytes(32).toString('base64url'),
    apiKey: stored.apiKey ?? crypto.randomBytes(24).toString('base64url'),
  };
  if (stored.authTokenSecret !== secrets.authTokenSecret || stored.apiKey !== secrets.apiKey) {
    ensurePrivateDir(dataDir);
    fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  if (needToken) logger.warn({ file }, 'AUTH_TOKEN_SECRET is not set: using a generated development secret. Set it in production.');
  if (needKey) logger.warn({ file }, 'API_KEYS is not set: the admin API accepts the generated development key stored in this file.');
  return {
    authTokenSecrets: needToken ? [secrets.authTokenSecret] : [...configured.authTokenSecrets],
    apiKeys: needKey ? [secrets.apiKey] : [...configured.apiKeys],
    ...(needKey ? { generatedApiKeyFile: file } : {}),
  };
}
