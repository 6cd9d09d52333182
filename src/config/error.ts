/**
 * A configuration problem; the message names the variable and what to fix. On its own so that
 * threads (APNs, Web Push encryption) can throw it without loading the configuration schema.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
