import type { Logger } from 'pino';
import { runAsSystem } from '../access/scope.ts';
import { grantServerRole, rewritableAuditTables, roleOf } from '../audit/database-roles.ts';
import { type Config, ConfigError } from '../config/config.ts';
import { openDatabase, type Database, type DatabaseKind } from '../db/database.ts';
import { applyMigrations, pendingMigrations } from '../db/migrations.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { loadDemoData } from '../demo/demo-data.repository.ts';
import { installDefaultModels } from '../models/default-models.ts';
import { initTensorflow } from '../pipeline/index.ts';
import { type App, createApp } from './app.ts';

export interface RunningServer {
  url: string;
  databaseKind: DatabaseKind;
  db: Database;
  app: App;
  /** Graceful stop: no new requests, in-flight ones finish, then the database closes (once, however often called). */
  stop(): Promise<void>;
}

/** Everything `npm start` does before it answers requests; tests start servers the same way. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  for (const warning of config.warnings) log.warn(warning);
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    databaseReadUrl: config.databaseReadUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    preparedStatements: config.databasePreparedStatements,
    statementTimeoutMs: config.limits.requestTimeoutMs,
  });
  try {
    // The schema engine is only loaded when something is pending (it costs a second).
    const twoRoles = Boolean(config.databaseMigrationUrl && config.databaseUrl);
    if (twoRoles) await asMigrationRole(config.databaseMigrationUrl!, config.databaseUrl!, config.migrateOnStart, log);
    let pending = await pendingMigrations(db.prisma);
    if (!twoRoles && config.migrateOnStart && pending.length > 0) {
      log.info({ applied: await applyMigrations(db.adapterFactory) }, 'migrations applied');
      pending = [];
    }
    if (config.production && db.kind === 'postgresql') {
      const rewritable = await rewritableAuditTables(db.prisma);
      if (rewritable.length > 0) {
        const held = rewritable.map(({ table, rights }) => `${table} (${rights.join(', ')})`).join(', ');
        throw new ConfigError(
          `DATABASE_URL: the server's role owns (or is superuser over) or may rewrite the audit tables: ${held}; ` +
            'production mode runs the server as a role that may only INSERT and SELECT them: set DATABASE_MIGRATION_URL to the owner, ' +
            'and take UPDATE, DELETE, TRUNCATE and TRIGGER on them from the server role and from every role it belongs to (README, "Database roles")',
        );
      }
    }
    const tensorflow = await initTensorflow();
    log.info(tensorflow, 'TensorFlow.js backend chosen');
    // Without the current schema there is nothing to install into: serve /readyz (not ready) and wait for a migration.
    if (pending.length > 0) log.warn({ pending }, 'migrations pending: default models and demo data are not loaded');
    else await loadStartingData(db, config, log);
    const app = await createApp(config, db, log);
    const url = await app.listen();
    // Production models load and run a few rows in the background; /readyz says when they are warm.
    app.modelServer.warmUp().then(
      (models) => log.info({ models }, 'production models warm'),
      (error: Error) => log.error({ errorType: error.name, message: error.message }, 'model warm-up failed'),
    );
    let stopped: Promise<void> | undefined;
    return {
      url,
      databaseKind: db.kind,
      db,
      app,
      stop() {
        stopped ??= app.close().then(() => db.close());
        return stopped;
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}

/**
 * As the migration role (DATABASE_MIGRATION_URL, the tables' owner): applies
 * pending migrations when asked, then grants the server's role its rights
 * (at every start, so they follow the tables).
 */
export async function asMigrationRole(migrationUrl: string, serverUrl: string, applyPending: boolean, log: Logger): Promise<void> {
  const owner = await openDatabase({ databaseUrl: migrationUrl, dataDir: '.', poolSize: 1 });
  try {
    if (applyPending && (await pendingMigrations(owner.prisma)).length > 0) log.info({ applied: await applyMigrations(owner.adapterFactory) }, 'migrations applied by the migration role');
    await grantServerRole(owner.prisma, roleOf(serverUrl));
  } finally {
    await owner.close();
  }
}

/** The shipped default models (into an empty registry) and the demo data (into an empty database), as configured. */
async function loadStartingData(db: Database, config: Config, log: Logger): Promise<void> {
  if (config.defaultModels) {
    const installed = await runAsSystem({ db, config, auditLog: new AuditLog(db.prisma, log), log }, 'clinigraph', ['data_scientist'], installDefaultModels);
    if (installed.length) log.info({ installed }, 'default models installed in the registry');
  }
  if (config.demoData) {
    const loaded = await loadDemoData(db.prisma);
    if (loaded) log.info(loaded, 'demo data loaded into the empty database');
  }
}
