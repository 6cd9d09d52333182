import { badRequest } from '../errors';

const DEVICE_TOKEN = /^[0-9a-fA-F]{64}$/;

/** A Safari device token is 32 bytes in hex; stored lower-case so lookups ignore case. */
export function parseDeviceToken(raw: string): string {
  if (!DEVICE_TOKEN.test(raw)) throw badRequest('Device token must be 64 hexadecimal characters', 'invalid_device_token');
  return raw.toLowerCase();
}
