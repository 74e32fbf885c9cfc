import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';

/*
 * The embedded database's files and their lock, without any Prisma: the
 * server opens it through database.ts, and the audit verifier reads it with
 * PGlite alone (scripts/audit-verify.ts).
 */

/**
 * An embedded PostgreSQL with the extensions the migrations use (pg_trgm, for
 * indexed name search). Every embedded database is opened through here.
 * @param dir its directory, or undefined for a throw-away in-memory one
 */
export function createPGlite(dir?: string): PGlite {
  const options = { extensions: { pg_trgm } };
  return dir ? new PGlite(dir, options) : new PGlite(options);
}

/** The embedded database's files live here, under DATA_DIR. */
export const embeddedDataPath = (dataDir: string) => path.join(dataDir, 'pgdata');

/**
 * PGlite does not lock its directory: a second process opening it (a second
 * server, `npm run audit:verify` while the server runs) silently loses the
 * first one's commits or leaves files that no longer open. This lock file
 * refuses that. A lock left by a process that is gone (killed) is taken over.
 */
export async function lockEmbeddedDatabase(dir: string): Promise<() => Promise<void>> {
  const lockPath = path.join(dir, '..', 'pgdata.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (holder > 0 && holder !== process.pid && processIsAlive(holder)) {
        throw new Error(
          `The embedded database in ${dir} is in use by process ${holder}. It admits one process at a time: stop that process first, or use PostgreSQL (DATABASE_URL) to share a database.`,
        );
      }
      await rm(lockPath, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`Could not lock the embedded database in ${dir}.`);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
