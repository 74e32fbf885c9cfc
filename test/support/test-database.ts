import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { createPGlite, embeddedDataPath } from '../../src/db/database.ts';
import { applyMigrations, migrationsDir } from '../../src/db/migrations.ts';

/*
 * Every test file gets a database of its own, copied from a template on which
 * the migrations were applied once: with DATABASE_URL set, a new PostgreSQL
 * database (CREATE DATABASE ... TEMPLATE) on that server; otherwise a copy of
 * an embedded database directory. Copying takes well under a second where
 * building a database from nothing takes several.
 */

const cacheDir = fileURLToPath(new URL('../../.cache/test-templates/', import.meta.url));

export interface TestDatabase {
  /** Set for PostgreSQL; undefined for the embedded database. */
  databaseUrl: string | undefined;
  /** DATA_DIR for the server (holds the embedded database's files). */
  dataDir: string;
  drop(): Promise<void>;
}

/** A hash of the migrations, so a template is rebuilt whenever they change. */
async function migrationsHash(): Promise<string> {
  const hash = createHash('sha256');
  const folders = (await readdir(migrationsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const folder of folders) hash.update(folder).update(await readFile(path.join(migrationsDir, folder, 'migration.sql')));
  return hash.digest('hex').slice(0, 12);
}

/**
 * @param options.empty a database without any migration applied (as a new
 *   installation finds it: embedded, an empty DATA_DIR, where the first start
 *   creates the database), instead of a copy of the migrated template
 * @param options.unmigrated a database created but without any migration
 *   applied (as a start with MIGRATE_ON_START=false leaves it): embedded, a copy
 *   of a template, where creating the database costs 4 s of CPU
 * @param options.embedded an embedded database even when DATABASE_URL is set
 * @param options.serverUrl the PostgreSQL server to make it on instead of DATABASE_URL's
 */
export async function createTestDatabase(
  options: { empty?: boolean; unmigrated?: boolean; embedded?: boolean; serverUrl?: string } = {},
): Promise<TestDatabase> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-test-'));
  const serverUrl = options.embedded ? undefined : (options.serverUrl ?? process.env.DATABASE_URL);
  if (serverUrl) {
    const databaseUrl = await createPostgresDatabase(serverUrl, Boolean(options.empty || options.unmigrated));
    return {
      databaseUrl,
      dataDir,
      async drop() {
        await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${new URL(databaseUrl).pathname.slice(1)}" WITH (FORCE)`);
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (!options.empty) await copyTree(await embeddedTemplate(!options.unmigrated), embeddedDataPath(dataDir));
  return { databaseUrl: undefined, dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
}

/**
 * An empty embedded database directory, built once: with every migration
 * applied (once per migration set), or with none.
 */
async function embeddedTemplate(migrated: boolean): Promise<string> {
  const template = path.join(cacheDir, migrated ? `pglite-${await migrationsHash()}` : 'pglite-unmigrated');
  if (await readdir(template).then(() => true, () => false)) return template;
  await mkdir(cacheDir, { recursive: true });
  const building = `${template}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const pglite = createPGlite(building);
  if (migrated) await applyMigrations(new PrismaPGlite(pglite));
  else await pglite.waitReady;
  await pglite.close();
  // Another test process may have finished first; either copy is as good.
  await rename(building, template).catch(() => rm(building, { recursive: true, force: true }));
  return template;
}

/**
 * Copies a directory of plain files and folders (a database directory). Node's
 * `fs.cp` checks every entry several times over and cost 0.65 s of CPU for the
 * template's 1,100 files; this costs 0.15 s.
 */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const entries = await readdir(from, { withFileTypes: true });
  await Promise.all(
    entries.map((entry) => (entry.isDirectory() ? copyTree : copyFile)(path.join(from, entry.name), path.join(to, entry.name))),
  );
}

async function adminQuery(serverUrl: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A new PostgreSQL database for one test file, named after the database in
 * DATABASE_URL so a CI run can drop everything it made.
 */
async function createPostgresDatabase(serverUrl: string, empty: boolean): Promise<string> {
  const base = new URL(serverUrl).pathname.slice(1) || 'postgres';
  const template = `${base}_tpl_${await migrationsHash()}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    // One test process builds the template; the others wait on the lock.
    await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [template]);
    const exists = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [template]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE "${template}"`);
      // A pool of our own, ended here: a template must have no open connections.
      const pool = new pg.Pool({ connectionString: withDatabase(serverUrl, template), max: 1 });
      try {
        await applyMigrations(new PrismaPg(pool));
      } catch (error) {
        await pool.end();
        await client.query(`DROP DATABASE "${template}"`);
        throw error;
      }
      await pool.end();
    }
    await client.query(`SELECT pg_advisory_unlock(hashtext($1))`, [template]);
    const name = `${base}_t_${randomBytes(6).toString('hex')}`;
    await client.query(`CREATE DATABASE "${name}" TEMPLATE "${empty ? 'template0' : template}"`);
    return withDatabase(serverUrl, name);
  } finally {
    await client.end();
  }
}
