/**
 * A configuration problem; the message names the variable and what to fix. On its own so that
 * the APNs thread can throw it without loading the configuration schema (zod, luxon, rrule).
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
