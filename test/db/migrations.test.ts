import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { applyMigrations, detectSchemaDrift, migrationsDir, readMigrationList, schemaPath } from '../../src/db/migrations.ts';
import { openRaw } from '../support/raw-database.ts';
import { createTestDatabase } from '../support/test-database.ts';

// A database on which the test support applied every migration from nothing.
const database = await createTestDatabase();
const raw = await openRaw(database);
after(async () => {
  await raw.close();
  await database.drop();
});

describe('migrations', () => {
  it('build every table of schema.prisma on a fresh database', async () => {
    const tables = await raw.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    const schema = await readFile(schemaPath, 'utf8');
    const models = [...schema.matchAll(/^model (\w+) \{/gm)].map((match) => match[1]!);
    assert.ok(models.length >= 4);
    for (const model of models) assert.ok(tables.some((t) => t.table_name === model), `table ${model} is missing`);
  });

  it("record Prisma's own history, with the checksums `prisma migrate deploy` verifies", async () => {
    const history = await raw.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      `SELECT migration_name, checksum, finished_at FROM _prisma_migrations ORDER BY migration_name`,
    );
    const onDisk = (await readMigrationList()).migrationDirectories.map((dir) => dir.path);
    assert.deepEqual(history.map((row) => row.migration_name), onDisk);
    for (const row of history) {
      const sql = await readFile(path.join(migrationsDir, row.migration_name, 'migration.sql'));
      assert.equal(row.checksum, createHash('sha256').update(sql).digest('hex'));
      assert.ok(row.finished_at);
    }
  });

  it('apply nothing the second time', async () => {
    assert.deepEqual(await applyMigrations(raw.adapterFactory), []);
  });
});

// The drift check always runs on an embedded database: the schema engine cannot
// read PostgreSQL's catalog through the pg driver adapter ("char" columns), and
// the question (do schema.prisma and the migrations agree?) does not depend on
// the server.
const embedded = await createTestDatabase({ embedded: true });
const embeddedRaw = await openRaw(embedded);
after(async () => {
  await embeddedRaw.close();
  await embedded.drop();
});

describe('drift check', () => {
  it('passes when schema.prisma and the migrations agree', async () => {
    const drift = await detectSchemaDrift(embeddedRaw.adapterFactory);
    assert.equal(drift.drifted, false, drift.sql);
  });

  it('fails, with the missing SQL, when schema.prisma changes without a migration', async () => {
    const schema = await readFile(schemaPath, 'utf8');
    const changed = schema.replace(/(model Patient \{\n)/, '$1  nickname String?\n');
    assert.notEqual(changed, schema);
    const drift = await detectSchemaDrift(embeddedRaw.adapterFactory, changed);
    assert.equal(drift.drifted, true);
    assert.match(drift.sql, /ALTER TABLE "Patient" ADD COLUMN\s+"nickname" TEXT/);
  });
});
