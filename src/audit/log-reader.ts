import { stat } from 'node:fs/promises';
import pg from 'pg';
import { createPGlite, embeddedDataPath, lockEmbeddedDatabase } from '../db/embedded-database.ts';
import type { Sql } from './audit-tree.ts';

/*
 * The audit log's tables read with nothing but a driver: plain node-postgres
 * for PostgreSQL, PGlite itself for the embedded database. The offline
 * verifier (scripts/audit-verify.ts) reads through this, so what it trusts
 * is node:crypto and its own code, not the server's database client.
 */

/** Read-only access to one database for the verifier. */
export interface LogReader {
  sql: Sql;
  close(): Promise<void>;
}

/**
 * Opens the log to read it. On PostgreSQL every read runs in one read-only
 * repeatable-read transaction, so the verifier sees one snapshot while a
 * sequencer goes on integrating. The embedded database is taken with the same
 * lock file as the server's (one process at a time), and must exist.
 */
export async function openLogReader(options: { databaseUrl: string | undefined; dataDir: string }): Promise<LogReader> {
  if (options.databaseUrl) {
    const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'clinigraph-audit-verify', connectionTimeoutMillis: 5_000 });
    client.on('error', () => {}); // a lost connection fails the next query, which is reported
    await client.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (error) {
      await client.end();
      throw error;
    }
    return {
      sql: async <T>(text: string, values: unknown[] = []) => (await client.query(text, values)).rows as T[],
      close: () => client.end(),
    };
  }
  const dir = embeddedDataPath(options.dataDir);
  // PGlite would make an empty database in a missing directory: a verifier must not.
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new Error(`No embedded database in ${dir} (set DATA_DIR, or DATABASE_URL for PostgreSQL).`);
  const unlock = await lockEmbeddedDatabase(dir);
  try {
    const pglite = createPGlite(dir);
    await pglite.waitReady;
    return {
      sql: async <T>(text: string, values: unknown[] = []) => (await pglite.query<T>(text, values)).rows,
      close: () => pglite.close().finally(unlock),
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}
