import { z } from 'zod';
import { badInput } from '../errors/errors.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a well-formed ID (only those are echoed into audit records). */
export function isId(value: string): boolean {
  return uuidPattern.test(value);
}

/**
 * Checks an ID argument before it reaches the database.
 * @param argument the argument's name, echoed in the error so clients know which one
 */
export function parseId(value: string, argument: string): string {
  if (!uuidPattern.test(value)) {
    throw badInput(`\`${argument}\` is not a valid ID (expected a UUID such as 7f0c2f4e-...).`, { argument });
  }
  return value.toLowerCase();
}

/**
 * Validates an input object against a zod schema.
 * @throws BAD_USER_INPUT naming the first bad field and why
 */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, argument = 'input'): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [argument, ...issue.path.map(String)].join('.');
  throw badInput(`${field}: ${issue.message}`, { argument, field });
}

/** A trimmed string of bounded length (empty strings are refused). */
export const boundedText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { message: 'must not be empty' })
    .max(max, { message: `must be at most ${max} characters` });

/** A date that is not in the future (birth dates, observation times). */
export const notInFuture = (what: string) =>
  z.date().refine((date) => date.getTime() <= Date.now(), { message: `${what} cannot be in the future` });
