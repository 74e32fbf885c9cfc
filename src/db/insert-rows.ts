import { Prisma } from '../generated/prisma/client.ts';

/**
 * SQL that inserts rows given as one JSON parameter, each row an object of
 * the named columns (columns left out take their defaults). One statement text
 * for any number of rows: Prisma's createMany compiles a new query plan for
 * every row count, and PostgreSQL prepares this text once per connection.
 * @param table a table name of the schema (never input)
 * @param columns the columns every row sets (never input)
 * @param options.where SQL of a condition the rows are inserted under (none are, when false)
 * @param options.returning SQL of what the statement returns (e.g. `*`)
 */
export function insertRowsSql(table: string, columns: readonly string[], rows: readonly object[], options: { where?: Prisma.Sql; returning?: Prisma.Sql } = {}): Prisma.Sql {
  const list = Prisma.raw(columns.map((column) => `"${column}"`).join(', '));
  return Prisma.sql`INSERT INTO ${Prisma.raw(`"${table}"`)} (${list})
    SELECT ${list} FROM jsonb_populate_recordset(${Prisma.raw(`NULL::"${table}"`)}, ${JSON.stringify(rows)}::jsonb)
    ${options.where ? Prisma.sql`WHERE ${options.where}` : Prisma.empty}
    ${options.returning ? Prisma.sql`RETURNING ${options.returning}` : Prisma.empty}`;
}
