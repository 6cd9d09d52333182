import { z } from 'zod';

/**
 * Text from outside that will be stored: PostgreSQL cannot store U+0000 in text columns, so it is
 * refused here with a 400 rather than failing in the database with a 500.
 */
export const storedText = () => z.string().refine((value) => !value.includes('\u0000'), 'must not contain NUL characters');
