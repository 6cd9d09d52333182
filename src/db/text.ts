import { AppError } from '../errors';
import { textProblem } from '../http/text';

/**
 * Texts the service writes itself (answers of APNs and push services, error messages, user
 * agents): made well-formed, without NUL, and cut to `max` characters with an ellipsis, so a long
 * or odd message can never make a write fail. Characters, not bytes: PostgreSQL's varchar(n)
 * counts characters, and a cut surrogate pair becomes one U+FFFD.
 */
export function boundedText(value: string, max: number): string;
export function boundedText(value: string | null | undefined, max: number): string | null;
export function boundedText(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  let text = value.includes('\u0000') ? value.replace(/\u0000/g, '\uFFFD') : value;
  if (text.length > max) text = `${text.slice(0, max - 1)}…`;
  return text.toWellFormed();
}

/**
 * Texts that identify something (user ids, names): never cut or altered, refused instead. Routes
 * refuse them first with a field name; this is the last line at the repository boundary.
 */
export function checkedText(value: string, max: number, what: string): string;
export function checkedText(value: string | null | undefined, max: number, what: string): string | null;
export function checkedText(value: string | null | undefined, max: number, what: string): string | null {
  if (value === null || value === undefined) return null;
  const problem = value.length > max ? `must be at most ${max} characters` : textProblem(value);
  if (problem) throw new AppError(400, 'invalid_text', `${what} ${problem}`);
  return value;
}
