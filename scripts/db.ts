#!/usr/bin/env tsx
/**
 * Database commands that need no native Prisma engine:
 *   db:migrate              apply pending migrations to the configured database
 *   db:migration <name>     write the next migration from changes in schema.prisma
 *   db:drift                exit 2 when schema.prisma and the migrations disagree
 */
import 'dotenv/config';
import { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { applyMigrations, createMigration, detectSchemaDrift } from '../src/db/migrations.ts';
import { asMigrationRole } from '../src/server/start.ts';

const program = new Command('db').description('clinigraph database migrations');

program
  .command('migrate')
  .description('apply pending migrations to DATABASE_URL (as DATABASE_MIGRATION_URL when set), or to the embedded database in DATA_DIR')
  .action(async () => {
    const config = loadConfig();
    if (config.databaseMigrationUrl && config.databaseUrl) {
      await asMigrationRole(config.databaseMigrationUrl, config.databaseUrl, true, pino({ level: 'info' }));
      return;
    }
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
    try {
      const applied = await applyMigrations(db.adapterFactory);
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date.');
    } finally {
      await db.close();
    }
  });

program
  .command('migration')
  .argument('<name>', 'short name of the change, e.g. add_patient_phone')
  .description('create prisma/migrations/<timestamp>_<name>/migration.sql from schema.prisma')
  .action(async (name: string) => {
    const folder = await createMigration(name);
    console.log(folder ? `Created ${folder}` : 'schema.prisma and the migrations agree: nothing to create.');
  });

program
  .command('drift')
  .description('check that schema.prisma and prisma/migrations agree')
  .action(async () => {
    const drift = await detectSchemaDrift();
    if (drift.drifted) {
      console.error('schema.prisma and the migrations disagree. Missing SQL:\n' + drift.sql);
      process.exitCode = 2;
    } else console.log('schema.prisma and the migrations agree.');
  });

program.parseAsync().catch((error: Error) => {
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
});
