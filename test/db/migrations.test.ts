import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openDatabase } from '../../src/db/database.ts';
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

describe('upgrade', () => {
  // One database walks the migrations one at a time, gaining a patient at each earlier version; at the end
  // every patient must be there as written. That is an upgrade from each earlier version to the latest
  // (migrations only ever apply in order), in one pass instead of one database per version.
  it('takes a database at each earlier migration, with data in it, to the latest without losing the data', async () => {
    const all = (await readMigrationList()).migrationDirectories.map((dir) => dir.path);
    assert.ok(all.length >= 2, 'there is an earlier version to upgrade from');
    const old = await createTestDatabase({ unmigrated: true, embedded: !process.env.DATABASE_URL });
    const db = await openRaw(old);
    const earlier = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-migrations-'));
    try {
      // The migrations folder as it was when only the first `applied` migrations existed.
      await cp(path.join(migrationsDir, 'migration_lock.toml'), path.join(earlier, 'migration_lock.toml'));
      for (let applied = 1; applied < all.length; applied++) {
        await cp(path.join(migrationsDir, all[applied - 1]!), path.join(earlier, all[applied - 1]!), { recursive: true });
        assert.deepEqual(await applyMigrations(db.adapterFactory, earlier), [all[applied - 1]]);
        await db.query(`INSERT INTO "Patient" (id, mrn, "givenName", "familyName", "birthDate", sex, "updatedAt")
          VALUES ($1, $2, 'Early', $3, '1950-05-05', 'FEMALE', now())`, [patientId(applied), `OLD-${applied}`, `Adopter ${all[applied - 1]}`]);
      }

      assert.deepEqual(await applyMigrations(db.adapterFactory), all.slice(-1));
      const patients = await db.query<{ id: string; mrn: string; familyName: string }>(`SELECT id, mrn, "familyName" FROM "Patient" ORDER BY mrn`);
      const expected = all.slice(0, -1).map((name, index) => ({ id: patientId(index + 1), mrn: `OLD-${index + 1}`, familyName: `Adopter ${name}` }));
      assert.deepEqual(patients.map((p) => ({ ...p })).sort((a, b) => a.id.localeCompare(b.id)), expected.sort((a, b) => a.id.localeCompare(b.id)));
    } finally {
      await rm(earlier, { recursive: true, force: true });
      await db.close();
      await old.drop();
    }
  });
});

describe('upgrade over many versions at once', () => {
  // What an installation that skipped releases does: one start applies every migration since its first.
  it('takes a database at the first migration, with a patient, to the latest in one call', async () => {
    const all = (await readMigrationList()).migrationDirectories.map((dir) => dir.path);
    const old = await createTestDatabase({ unmigrated: true, embedded: !process.env.DATABASE_URL });
    const db = await openRaw(old);
    const first = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-migrations-'));
    try {
      await cp(path.join(migrationsDir, 'migration_lock.toml'), path.join(first, 'migration_lock.toml'));
      await cp(path.join(migrationsDir, all[0]!), path.join(first, all[0]!), { recursive: true });
      assert.deepEqual(await applyMigrations(db.adapterFactory, first), all.slice(0, 1));
      await db.query(`INSERT INTO "Patient" (id, mrn, "givenName", "familyName", "birthDate", sex, "updatedAt")
        VALUES ($1, 'OLD-FIRST', 'Early', 'Adopter', '1950-05-05', 'FEMALE', now())`, [patientId(1)]);

      assert.deepEqual(await applyMigrations(db.adapterFactory), all.slice(1));
      const patients = await db.query<{ id: string; mrn: string }>(`SELECT id, mrn FROM "Patient"`);
      assert.deepEqual(patients.map((p) => ({ ...p })), [{ id: patientId(1), mrn: 'OLD-FIRST' }]);
    } finally {
      await rm(first, { recursive: true, force: true });
      await db.close();
      await old.drop();
    }
  });
});

/** A distinct, valid UUID for the patient written at an earlier version. */
function patientId(version: number): string {
  return `11111111-1111-4111-8111-${String(version).padStart(12, '0')}`;
}

describe('a long migration', () => {
  // The pool's statement_timeout is sized for API requests; a migration rewriting a large table takes longer.
  it('runs to its end under a pool whose statement timeout is shorter than it, and the pool keeps its limit', { skip: !process.env.DATABASE_URL && 'statement_timeout is a PostgreSQL pool setting' }, async () => {
    const database = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 2, statementTimeoutMs: 100 });
    const withSlow = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-migrations-'));
    try {
      // Every migration (applied already) and a new one that takes 300 ms, three times the pool's limit.
      await cp(migrationsDir, withSlow, { recursive: true });
      await mkdir(path.join(withSlow, '99991231000000_slow'));
      await writeFile(path.join(withSlow, '99991231000000_slow', 'migration.sql'), 'CREATE TABLE "SlowlyFilled" (n int);\nINSERT INTO "SlowlyFilled" SELECT 1 FROM pg_sleep(0.3);\n');
      assert.deepEqual(await applyMigrations(db.adapterFactory, withSlow), ['99991231000000_slow']);
      assert.deepEqual(await db.prisma.$queryRawUnsafe('SELECT n FROM "SlowlyFilled"'), [{ n: 1 }]);
      const [pooled] = await db.prisma.$queryRawUnsafe<{ statement_timeout: string }[]>('SHOW statement_timeout');
      assert.equal(pooled!.statement_timeout, '100ms', 'the pool keeps its own limit after the migration');
    } finally {
      await rm(withSlow, { recursive: true, force: true });
      await db.close();
      await database.drop();
    }
  });
});
