import { badInput } from '../errors/errors.ts';

/** A Relay connection; totalCount is a function so the count query runs only when asked for. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: () => Promise<number>;
}

/** The position of a row in a keyset ordered by (createdAt, id). */
export interface KeysetPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString('base64url');
}

/** Reads a cursor this API issued; anything else is a BAD_USER_INPUT. */
export function decodeCursor(cursor: string): KeysetPosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const date = new Date(String(createdAt));
    if (typeof id === 'string' && typeof createdAt === 'string' && !Number.isNaN(date.getTime())) {
      return { createdAt: date, id };
    }
  } catch {
    // fall through to the coded error
  }
  throw badInput('The `after` cursor is not one this API issued; pass an endCursor from a previous page.', {
    argument: 'after',
  });
}

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
 */
export function toConnection<T extends KeysetPosition>(
  rows: T[],
  first: number,
  after: KeysetPosition | undefined,
  totalCount: () => Promise<number>,
): Connection<T> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: after !== undefined,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}

/** Prisma `where` for the rows after a keyset position, in (createdAt, id) order. */
export function afterPosition(after: KeysetPosition | undefined) {
  if (!after) return {};
  return {
    OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }],
  };
}
