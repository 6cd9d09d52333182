import type { z } from 'zod';
import { badRequest } from '../errors';

/** Parses untrusted input with a schema; a failure becomes a 400 naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  if (input === undefined && what !== 'query') throw badRequest(`Request body is missing: send the ${what} as JSON with Content-Type: application/json`, 'missing_body');
  const details = result.error.issues.map((issue) => `${issue.path.join('.') || what}: ${issue.message}`).join('; ');
  throw badRequest(`Invalid ${what}: ${details}`, 'validation_failed');
}
