import type { Prisma } from '../generated/prisma/client.ts';
import type { Sql } from './audit-tree.ts';

/** The tree's SQL (audit-tree.ts) run on a Prisma client or transaction. */
export const prismaSql =
  (db: Prisma.TransactionClient): Sql =>
  <T>(text: string, values: unknown[] = []) =>
    db.$queryRawUnsafe<T[]>(text, ...values);
