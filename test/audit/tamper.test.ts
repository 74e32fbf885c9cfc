import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { it } from 'node:test';
import { hashAuditRecord } from '../../src/audit/audit-record.ts';
import { createPatient } from '../support/fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer();
const { prisma } = api.server.db;
const auditor = api.as(people.auditor);
for (let i = 0; i < 4; i++) await createPatient(api);
const verify = async () =>
  (await auditor.gql('{ verifyAuditChain { intact checkedCount totalCount firstInvalidSequence problem } }')).body.data!.verifyAuditChain;

/** Edits audit rows the way an attacker with superuser rights would: triggers off for one transaction. */
function tamper(sql: string) {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`);
    await tx.$executeRawUnsafe(sql);
  });
}

it('finds a record whose content was edited behind the triggers’ back, at that exact record', async () => {
  assert.equal((await verify()).intact, true);
  await tamper(`UPDATE "AuditEvent" SET "actorSubject" = 'innocent-bystander' WHERE sequence = 5`);
  const result = await verify();
  assert.deepEqual([result.intact, result.firstInvalidSequence, result.problem, result.checkedCount], [false, '5', 'content-altered', 4]);
});

it('finds an edit whose hash was recomputed, at the next record (its link breaks)', async () => {
  const row = await prisma.auditEvent.findUniqueOrThrow({ where: { sequence: 5n } });
  const { hash: _old, ...content } = row;
  await tamper(`UPDATE "AuditEvent" SET hash = '${hashAuditRecord(content)}' WHERE sequence = 5`);
  const result = await verify();
  assert.deepEqual([result.intact, result.firstInvalidSequence, result.problem], [false, '6', 'link-broken']);
});

/** `npm run audit:verify` on a database. */
function verifyCli(database: TestDatabase) {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { PATH: process.env.PATH!, DATA_DIR: database.dataDir, ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) },
  });
}

it('finds a deleted record as a gap, and `npm run audit:verify` exits 2 naming it', async () => {
  await tamper(`DELETE FROM "AuditEvent" WHERE sequence IN (5, 6)`);
  const result = await verify();
  assert.deepEqual([result.intact, result.firstInvalidSequence, result.problem], [false, '5', 'sequence-gap']);
  // The embedded database admits one process at a time: stop the server first.
  await api.server.stop();
  await assert.rejects(verifyCli(api.database), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 2);
    assert.match(error.stderr, /BROKEN at sequence 5: sequence-gap/);
    return true;
  });
});

it('`npm run audit:verify` exits 0 on an intact chain and prints the count checked', async () => {
  const fresh = await createTestDatabase();
  try {
    const { stdout } = await verifyCli(fresh);
    assert.match(stdout, /Audit chain intact: 0 records checked/);
  } finally {
    await fresh.drop();
  }
});
