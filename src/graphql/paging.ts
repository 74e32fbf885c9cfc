import { badInput } from '../errors/errors.ts';
import { isId } from './validation.ts';

/** A Relay connection; totalCount is a function so the count query runs only when asked for. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: () => Promise<number>;
}

/** The position of a row in a keyset ordered by (time, id). */
export interface KeysetPosition {
  time: Date;
  id: string;
}

export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.time.toISOString(), position.id])).toString('base64url');
}

const invalidCursor = () =>
  badInput('The `after` cursor is not one this API issued; pass an endCursor from a previous page.', { argument: 'after' });

/** Times the API stores (and so issues cursors for) lie in these years; PostgreSQL refuses some JavaScript dates outside them. */
const cursorYears = { min: 1, max: 9999 };

/**
 * Reads a cursor this API issued; anything else is a BAD_USER_INPUT. Each
 * part is checked against what its column can hold, so a forged cursor
 * never reaches the database (where it would fail as a server error).
 */
export function decodeCursor(cursor: string): KeysetPosition {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const date = new Date(String(time));
    const year = date.getUTCFullYear();
    if (typeof id === 'string' && isId(id) && typeof time === 'string' && year >= cursorYears.min && year <= cursorYears.max) return { time: date, id };
  } catch {
    // fall through to the coded error
  }
  throw invalidCursor();
}

/** The largest value of PostgreSQL's int8 (bigint), the type of the audit log's numbers. */
const maxInt8 = 2n ** 63n - 1n;

/** Cursors over a bigint the rows are ordered by, tagged with what it counts, so one kind is never read as another. */
function bigintCursor(tag: string) {
  const pattern = new RegExp(`^${tag}:(\\d{1,19})$`);
  return {
    encode: (value: bigint) => Buffer.from(`${tag}:${value}`).toString('base64url'),
    decode(cursor: string): bigint {
      const match = pattern.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
      const value = match ? BigInt(match[1]!) : undefined;
      if (value === undefined || value > maxInt8) throw invalidCursor();
      return value;
    },
  };
}

/** Cursors over the audit log's arrival numbers (its newest-first pages). */
export const sequenceCursor = bigintCursor('seq');

/**
 * Cursors over the audit tree's leaf positions (exports): positions are given
 * in order as entries are integrated, so an entry that commits after a page
 * was read still comes on a later page (arrival numbers would skip it).
 */
export const leafCursor = bigintCursor('leaf');

/** Checks a requested page size against the configured maximum. */
export function pageSize(first: number, max: number): number {
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw badInput(`\`first\` must be between 1 and ${max}.`, { argument: 'first', max });
  }
  return first;
}

/**
 * Builds a connection from rows fetched with one row more than the page size
 * (that extra row only tells whether another page follows).
 * @param cursorOf the cursor of a row
 */
export function toConnection<T>(
  rows: T[],
  first: number,
  hasPrevious: boolean,
  totalCount: () => Promise<number>,
  cursorOf: (row: T) => string,
): Connection<T> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: hasPrevious,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}

/**
 * Prisma `where` for the rows after a keyset position, in (timeField, id)
 * ascending order. The `gte` bound repeats what the OR implies so PostgreSQL
 * starts an index range scan at the position instead of filtering every row
 * (a page deep in a million patients: 80 ms without it, 10 ms with it).
 */
export function afterPosition(after: KeysetPosition | undefined, timeField: string) {
  if (!after) return {};
  return {
    [timeField]: { gte: after.time },
    OR: [{ [timeField]: { gt: after.time } }, { id: { gt: after.id } }],
  };
}

/** The same for a newest-first list: the rows after a position in (timeField, id) descending order. */
export function afterPositionNewestFirst(after: KeysetPosition | undefined, timeField: string) {
  if (!after) return {};
  return {
    [timeField]: { lte: after.time },
    OR: [{ [timeField]: { lt: after.time } }, { id: { lt: after.id } }],
  };
}
