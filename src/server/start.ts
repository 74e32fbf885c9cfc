import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { openDatabase, type Database, type DatabaseKind } from '../db/database.ts';
import { applyMigrations, pendingMigrations } from '../db/migrations.ts';
import { loadDemoData } from '../demo/demo-data.ts';
import { createApp } from './app.ts';

export interface RunningServer {
  url: string;
  databaseKind: DatabaseKind;
  db: Database;
  /** Graceful stop: no new requests, in-flight ones finish, then the database closes (once, however often called). */
  stop(): Promise<void>;
}

/** Everything `npm start` does before it answers requests; tests start servers the same way. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
  try {
    // The schema engine is only loaded when something is pending (it costs a second).
    if (config.migrateOnStart && (await pendingMigrations(db.prisma)).length > 0) {
      const applied = await applyMigrations(db.adapterFactory);
      log.info({ applied }, 'migrations applied');
    }
    if (config.demoData) {
      const loaded = await loadDemoData(db.prisma);
      if (loaded) log.info(loaded, 'demo data loaded into the empty database');
    }
    const app = await createApp(config, db, log);
    const url = await app.listen();
    let stopped: Promise<void> | undefined;
    return {
      url,
      databaseKind: db.kind,
      db,
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
