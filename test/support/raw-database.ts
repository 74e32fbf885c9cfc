import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { createPGlite, embeddedDataPath } from '../../src/db/database.ts';
import type { TestDatabase } from './test-database.ts';

/** A plain SQL handle and a Prisma adapter factory on a test database, for tests below the API. */
export interface RawDatabase {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  close(): Promise<void>;
}

export async function openRaw(database: Pick<TestDatabase, 'databaseUrl' | 'dataDir'>): Promise<RawDatabase> {
  if (database.databaseUrl) {
    const pool = new pg.Pool({ connectionString: database.databaseUrl, max: 2 });
    // An idle connection lost to a database restart is replaced on the next query, not an uncaught error.
    pool.on('error', () => {});
    return {
      query: async (sql, params) => (await pool.query(sql, params)).rows,
      adapterFactory: new PrismaPg(pool),
      close: () => pool.end(),
    };
  }
  const pglite = createPGlite(embeddedDataPath(database.dataDir));
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows,
    adapterFactory: new PrismaPGlite(pglite),
    close: () => pglite.close(),
  };
}
