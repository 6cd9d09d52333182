import { z } from 'zod';

/** Why a text from outside cannot be stored as given, or undefined when it can. */
export function textProblem(value: string): string | undefined {
  // PostgreSQL cannot store U+0000 in text columns; SQLite would keep it and the two would differ.
  if (value.includes('\u0000')) return 'must not contain NUL characters';
  // A lone UTF-16 surrogate has no UTF-8 form: each database would store something else (U+FFFD or an error).
  if (!value.isWellFormed()) return 'must be well-formed Unicode (no lone UTF-16 surrogates)';
  return undefined;
}

/**
 * The one schema piece for text that comes in from outside (bodies, queries, claims): refused with
 * a 400 when it holds NUL or is not well-formed Unicode, so what is stored is exactly what was sent,
 * on SQLite and PostgreSQL alike.
 */
export const storedText = () =>
  z.string().superRefine((value, ctx) => {
    const problem = textProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
