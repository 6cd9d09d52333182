import { ensureDevelopmentIdentity } from './certs/dev-chain';
import { loadConfiguredIdentity, validateIdentity, type SigningIdentity } from './certs/identity';
import { resolveSecrets } from './config/dev-secrets';
import type { Config } from './config/load';
import { migrate, openDatabase, type Db } from './db/connection';
import { createDeviceRepository, type DeviceRepository } from './devices/repository';
import type { Logger } from './logger';
import { createLogRepository, type LogRepository } from './logs/repository';
import { createAuthTokens, type AuthTokens } from './safari/auth-token';
import { createPackageBuilder, type PackageBuilder } from './safari/package-builder';
import { loadRawPackage, type WebsiteTemplate } from './safari/raw-package';

/** Everything the routes need, built once at start-up. */
export interface AppContext {
  config: Config;
  logger: Logger;
  db: Db;
  website: WebsiteTemplate;
  identity: SigningIdentity;
  packages: PackageBuilder;
  authTokens: AuthTokens;
  apiKeys: string[];
  devices: DeviceRepository;
  logs: LogRepository;
}

/**
 * Validates the package and the signing identity, resolves secrets, opens the database and
 * migrates it. Throws ConfigError (with what to fix) before anything listens.
 */
export async function createContext(config: Config, logger: Logger): Promise<AppContext> {
  const raw = loadRawPackage(config.packageDir, config.website);
  const pushId = raw.website.websitePushID;
  const identity =
    config.signing.kind === 'development'
      ? ensureDevelopmentIdentity(config.dataDir, pushId, logger)
      : loadConfiguredIdentity(config.signing);
  validateIdentity(identity, pushId, logger);
  const secrets = resolveSecrets(config.dataDir, config, logger);

  const db = openDatabase(config.database.url, config.database.schema);
  try {
    await migrate(db, config.database.schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return {
    config,
    logger,
    db,
    website: raw.website,
    identity,
    packages: createPackageBuilder(raw, identity),
    authTokens: createAuthTokens(secrets.authTokenSecrets, pushId),
    apiKeys: secrets.apiKeys,
    devices: createDeviceRepository(db),
    logs: createLogRepository(db),
  };
}

/** Releases what createContext opened. */
export async function closeContext(context: AppContext): Promise<void> {
  await context.db.destroy();
}
