import { mkdir } from 'node:fs/promises';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.ts';
import { createPGlite, embeddedDataPath, lockEmbeddedDatabase } from './embedded-database.ts';
import { pgliteTakingTurns } from './pglite-turns.ts';
import { preparedStatementNames } from './prepared-statements.ts';

export { createPGlite, embeddedDataPath } from './embedded-database.ts';

export type DatabaseKind = 'embedded' | 'postgresql';

/** What a query listener hears: the SQL text is never passed on (it may hold values). */
export interface QueryEvent {
  durationMs: number;
}

/** The one database handle of a process: the Prisma client plus what migrations and health checks need. */
export interface Database {
  kind: DatabaseKind;
  prisma: PrismaClient;
  /**
   * The client for read traffic that tolerates replication lag: a read
   * replica when one is configured, else the same client as `prisma`.
   */
  replica: PrismaClient;
  /** The driver adapter factory the schema engine uses for migrations. */
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** Registers a listener for every SQL statement the client sends (metrics, tests). */
  onQuery(listener: (event: QueryEvent) => void): () => void;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; undefined opens the embedded database under dataDir. */
  databaseUrl: string | undefined;
  /** A read replica of databaseUrl (PostgreSQL only). */
  databaseReadUrl?: string | undefined;
  dataDir: string;
  poolSize: number;
  /** PostgreSQL: prepare each distinct statement once per connection (see prepared-statements.ts); default true. */
  preparedStatements?: boolean;
  /**
   * PostgreSQL: statements, and transactions left idle, are ended by the
   * server after this long, so a request the API gave up on does not keep
   * working (or keep the audit chain's lock) behind its back.
   */
  statementTimeoutMs?: number;
}


/**
 * A pool whose connections never crash the process: a connection the server ends (a restart, an
 * administrator's terminate) while a statement holds it out of the pool emits 'error' with no listener
 * of the pool's or the adapter's attached; the statement itself still fails with the error (and is
 * reported where it was run), so the connection's own event needs no second report.
 */
function connectionPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * Opens the database: a pooled PostgreSQL connection through `@prisma/adapter-pg`
 * when a URL is given, else PGlite (PostgreSQL compiled to WebAssembly, in
 * process) kept in `DATA_DIR/pgdata`. Both speak the same schema and migrations.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const timeouts = options.statementTimeoutMs
      ? { options: `-c statement_timeout=${options.statementTimeoutMs} -c idle_in_transaction_session_timeout=${options.statementTimeoutMs}` }
      : {};
    // A connection attempt that gets no answer (network partition) fails after 5 s instead of waiting forever.
    // The adapter's type says a name is always returned; node-postgres runs a statement without one unprepared.
    const naming = options.preparedStatements === false ? {} : { statementNameGenerator: preparedStatementNames() as (query: { sql: string }) => string };
    const pool = (connectionString: string) =>
      new PrismaPg(connectionPool({ connectionString, max: options.poolSize, connectionTimeoutMillis: 5_000, ...timeouts }), { ...naming, disposeExternalPool: true });
    const replica = options.databaseReadUrl ? new PrismaClient({ adapter: pool(options.databaseReadUrl), errorFormat: 'minimal' }) : undefined;
    return wrap('postgresql', pool(options.databaseUrl), async () => {
      await replica?.$disconnect();
    }, replica);
  }
  const dir = embeddedDataPath(options.dataDir);
  await mkdir(dir, { recursive: true });
  const unlock = await lockEmbeddedDatabase(dir);
  try {
    const pglite = createPGlite(dir);
    await pglite.waitReady;
    return wrap('embedded', new PrismaPGlite(pgliteTakingTurns(pglite)), () => pglite.close().finally(unlock));
  } catch (error) {
    await unlock();
    throw error;
  }
}

function wrap(
  kind: DatabaseKind,
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  closeDriver: () => Promise<void>,
  replica?: PrismaClient,
): Database {
  // Minimal errors: Prisma then skips capturing a call-site stack trace for every query (5% of a query's CPU);
  // its messages never reach clients anyway (errors are mapped to coded ones).
  const prisma = new PrismaClient({ adapter: adapterFactory, errorFormat: 'minimal', log: [{ emit: 'event', level: 'query' }] });
  const listeners = new Set<(event: QueryEvent) => void>();
  prisma.$on('query', (event) => {
    for (const listener of listeners) listener({ durationMs: event.duration });
  });
  return {
    kind,
    prisma,
    replica: replica ?? prisma,
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
