import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';

/**
 * An embedded PostgreSQL with the extensions the migrations use (pg_trgm, for
 * indexed name search). Every embedded database is opened through here (the
 * server's, in its worker thread: pglite-worker.ts).
 * @param dir its directory, or undefined for a throw-away in-memory one
 */
export function createPGlite(dir?: string): PGlite {
  const options = { extensions: { pg_trgm } };
  return dir ? new PGlite(dir, options) : new PGlite(options);
}
