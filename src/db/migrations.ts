import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as engineModule from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { PrismaClient } from '../generated/prisma/client.ts';
import { createPGlite } from './database.ts';
import { verifyLegacyAuditChain } from './legacy-audit-chain.ts';

/*
 * Migrations are driven by Prisma's schema engine compiled to WebAssembly
 * (@prisma/schema-engine-wasm) over the same driver adapter the app uses,
 * because the native engine cannot be downloaded everywhere this runs. The
 * engine keeps Prisma's own `_prisma_migrations` table and folder format, so
 * `prisma migrate deploy` with the native engine accepts the same history.
 */

const prismaDir = fileURLToPath(new URL('../../prisma/', import.meta.url));
export const schemaPath = path.join(prismaDir, 'schema.prisma');
export const migrationsDir = path.join(prismaDir, 'migrations');
const noFilters = { externalTables: [], externalEnums: [] };

let engineReady: Promise<void> | undefined;

/** Instantiates the engine's WebAssembly once per process (its package entry imports .wasm, which Node refuses). */
function loadEngineWasm(): Promise<void> {
  engineReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmFile = path.join(
      path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')),
      'schema_engine_bg.wasm',
    );
    const imports = { './schema_engine_bg.js': withUnrefTimers(engineModule) } as unknown as WebAssembly.Imports;
    const { instance } = await WebAssembly.instantiate(await readFile(wasmFile), imports);
    engineModule.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
  })();
  return engineReady;
}

/**
 * The engine arms a 10 s timer per command that it never clears, which would
 * keep a finished CLI or test process alive; its timers are made not to hold
 * the process open.
 */
function withUnrefTimers(module: typeof engineModule): Record<string, unknown> {
  const imports: Record<string, unknown> = { ...module };
  for (const name of Object.keys(imports).filter((key) => key.startsWith('__wbg_setTimeout_'))) {
    imports[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
  }
  return imports;
}

/**
 * @prisma/adapter-pg runs a migration script by splitting it on every ";",
 * which breaks any statement holding a semicolon in a string or a function
 * body (our audit trigger). PostgreSQL's simple query protocol takes the
 * whole script at once, as the native engine sends it, so that is what the
 * adapter is made to do here.
 *
 * PostgreSQL runs such a script as one implicit transaction, which the
 * script opens with SET LOCAL statement_timeout = 0: the pool's limit is
 * sized for API requests, and a migration rewriting a large table takes
 * longer, so it would be cancelled mid-upgrade. SET LOCAL ends with the
 * transaction, so the connection goes back to the pool with its own limit.
 * (lock_timeout is not set by the pool, so a migration already waits for
 * its locks as long as it must.)
 */
function wholeScripts(factory: SqlMigrationAwareDriverAdapterFactory): SqlMigrationAwareDriverAdapterFactory {
  if (factory.adapterName !== '@prisma/adapter-pg') return factory;
  const patch = <A extends SqlDriverAdapter>(adapter: A): A => {
    // adapter-pg exposes its pg.Pool here (the common adapter type does not declare it).
    const driver = (adapter as unknown as { underlyingDriver(): { query(sql: string): Promise<unknown> } }).underlyingDriver();
    const onError = (adapter as unknown as { onError(error: unknown): never }).onError.bind(adapter);
    adapter.executeScript = async (script: string) => {
      await driver.query(`SET LOCAL statement_timeout = 0;\n${script}`).catch(onError);
    };
    return adapter;
  };
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => patch(await factory.connect()),
    connectToShadowDb: async () => patch(await factory.connectToShadowDb()),
  };
}

async function withEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  work: (engine: SchemaEngine, schema: string) => Promise<T>,
  schema?: string,
): Promise<T> {
  await loadEngineWasm();
  schema ??= await readFile(schemaPath, 'utf8');
  const engine = await engineModule.SchemaEngine.new(
    { datamodels: [['schema.prisma', schema]] },
    () => {},
    // The bound factory keeps `this` on the adapter's methods.
    bindMigrationAwareSqlAdapterFactory(wholeScripts(adapterFactory)),
  );
  try {
    return await work(engine, schema);
  } finally {
    engine.free();
  }
}

/** The migration folders on disk, in the shape the engine reads. */
export async function readMigrationList(dir = migrationsDir): Promise<MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const folders = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const lockPath = path.join(dir, 'migration_lock.toml');
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: await readFile(lockPath, 'utf8').catch(() => null) },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      folders.map(async (folder) => ({
        path: folder,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(path.join(dir, folder, 'migration.sql'), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (error: Error) => ({ tag: 'error' as const, value: error.message }),
          ),
        },
      })),
    ),
  };
}

/**
 * Applies every pending migration in order, after verifying the hash chain
 * of a database from before the transparency log (legacy-audit-chain.ts).
 * @returns the names of the migrations applied now (empty when up to date)
 * @throws LegacyAuditChainError, applying nothing, when that chain is broken
 */
export async function applyMigrations(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  dir = migrationsDir,
): Promise<string[]> {
  const migrationsList = await readMigrationList(dir);
  await verifyLegacyAuditChain(adapterFactory);
  return withEngine(adapterFactory, async (engine) => {
    const output = await engine.applyMigrations({ migrationsList, filters: noFilters });
    return output.appliedMigrationNames;
  });
}

export interface SchemaDrift {
  /** True when schema.prisma describes a database the migrations do not build. */
  drifted: boolean;
  /** The SQL that would bring the migrations up to schema.prisma. */
  sql: string;
}

/**
 * Compares a database built by the migrations with the one schema.prisma
 * describes.
 * @param migrated a database on which every migration has been applied; by
 *   default a throw-away in-memory one is made (that takes a few seconds)
 * @param schema the schema text to compare with (default: prisma/schema.prisma)
 */
export async function detectSchemaDrift(
  migrated?: SqlMigrationAwareDriverAdapterFactory,
  schema?: string,
): Promise<SchemaDrift> {
  if (!migrated) {
    const scratch = createPGlite();
    try {
      const adapterFactory = new PrismaPGlite(scratch);
      await applyMigrations(adapterFactory);
      return await detectSchemaDrift(adapterFactory, schema);
    } finally {
      await scratch.close();
    }
  }
  return withEngine(migrated, async (engine, schema) => {
    const files = [{ path: 'schema.prisma', content: schema }];
    const result = await engine.diff({
      from: { tag: 'schemaDatasource', files, configDir: prismaDir },
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: true,
      filters: noFilters,
    });
    return { drifted: result.exitCode === 2, sql: result.stdout ?? '' };
  }, schema);
}

/**
 * Writes the next migration folder (`<UTC timestamp>_<name>/migration.sql`),
 * as `prisma migrate dev --create-only` would.
 * @returns the folder written, or undefined when schema and migrations already agree
 */
export async function createMigration(name: string, now = new Date()): Promise<string | undefined> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error('Migration names use lower-case letters, digits and _ only.');
  const drift = await detectSchemaDrift();
  if (!drift.drifted) return undefined;
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const folder = path.join(migrationsDir, `${stamp}_${name}`);
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'migration.sql'), drift.sql);
  // Prisma's lock file names the provider; the engine refuses a folder without it.
  await writeFile(
    path.join(migrationsDir, 'migration_lock.toml'),
    '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
  );
  return folder;
}

/** Names of migrations on disk that the database has not applied (for start-up and readiness). */
export async function pendingMigrations(prisma: PrismaClient): Promise<string[]> {
  const onDisk = (await readMigrationList()).migrationDirectories.map((dir) => dir.path);
  const [history] = await prisma.$queryRaw<{ present: boolean }[]>`
    SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present`;
  if (!history?.present) return onDisk;
  const applied = await prisma.$queryRaw<{ migration_name: string }[]>`
    SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  const done = new Set(applied.map((row) => row.migration_name));
  return onDisk.filter((name) => !done.has(name));
}
