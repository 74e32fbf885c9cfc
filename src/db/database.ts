import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.ts';

export type DatabaseKind = 'embedded' | 'postgresql';

/** What a query listener hears: the SQL text is never passed on (it may hold values). */
export interface QueryEvent {
  durationMs: number;
}

/** The one database handle of a process: the Prisma client plus what migrations and health checks need. */
export interface Database {
  kind: DatabaseKind;
  prisma: PrismaClient;
  /** The driver adapter factory the schema engine uses for migrations. */
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** Registers a listener for every SQL statement the client sends (metrics, tests). */
  onQuery(listener: (event: QueryEvent) => void): () => void;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; undefined opens the embedded database under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  poolSize: number;
}

/** The embedded database's files live here, under DATA_DIR. */
export const embeddedDataPath = (dataDir: string) => path.join(dataDir, 'pgdata');

/**
 * Opens the database: a pooled PostgreSQL connection through `@prisma/adapter-pg`
 * when a URL is given, else PGlite (PostgreSQL compiled to WebAssembly, in
 * process) kept in `DATA_DIR/pgdata`. Both speak the same schema and migrations.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const adapterFactory = new PrismaPg({ connectionString: options.databaseUrl, max: options.poolSize });
    return wrap('postgresql', adapterFactory, async () => {});
  }
  const dir = embeddedDataPath(options.dataDir);
  await mkdir(dir, { recursive: true });
  const pglite = new PGlite(dir);
  await pglite.waitReady;
  return wrap('embedded', new PrismaPGlite(pglite), () => pglite.close());
}

function wrap(
  kind: DatabaseKind,
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  closeDriver: () => Promise<void>,
): Database {
  const prisma = new PrismaClient({ adapter: adapterFactory, log: [{ emit: 'event', level: 'query' }] });
  const listeners = new Set<(event: QueryEvent) => void>();
  prisma.$on('query', (event) => {
    for (const listener of listeners) listener({ durationMs: event.duration });
  });
  return {
    kind,
    prisma,
    adapterFactory,
    onQuery(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}
