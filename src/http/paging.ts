import { z } from 'zod';
import { storedText } from './text';

/** `?limit=&cursor=` of every admin listing. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: storedText().max(200).optional(),
});

/** Milliseconds to the ISO strings the API speaks. */
export const iso = (ms: number) => new Date(ms).toISOString();
