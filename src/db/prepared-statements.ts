import { createHash } from 'node:crypto';

/** At most this many distinct statements are prepared on a connection; any beyond run unprepared. */
const preparedStatementLimit = 1_000;

/**
 * Names statements for node-postgres (`@prisma/adapter-pg`'s
 * statementNameGenerator) so that each distinct SQL text is prepared once per
 * connection: PostgreSQL then skips parsing it, and usually planning it, on
 * every later execution. Without names every statement was parsed and planned
 * again, which was most of PostgreSQL's time for the patient detail's reads.
 * Prisma's SQL comes in a bounded set of shapes; past `limit` distinct texts
 * (some unexpected variety) statements go unnamed, so no connection holds an
 * unbounded number of prepared statements.
 * @returns the generator: a name derived from the SQL text, or undefined (unnamed) past the limit
 */
export function preparedStatementNames(limit = preparedStatementLimit): (query: { sql: string }) => string | undefined {
  const names = new Map<string, string>();
  return ({ sql }) => {
    let name = names.get(sql);
    if (name === undefined && names.size < limit) names.set(sql, (name = `clinigraph_${createHash('sha256').update(sql).digest('base64url')}`));
    return name;
  };
}
