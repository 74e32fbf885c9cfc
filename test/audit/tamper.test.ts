import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { it } from 'node:test';
import { readLeaves, type Sql } from '../../src/audit/audit-tree.ts';
import { prismaSql } from '../../src/audit/prisma-sql.ts';
import { canonicalAuditRecord } from '../../src/audit/audit-record.ts';
import { generateSignerKey, openCheckpoint, parseSignerKey, parseVerifierKey, signCheckpoint } from '../../src/audit/checkpoint.ts';
import { type LogProblem, verifyAuditLog } from '../../src/audit/log-verification.ts';
import { CompactRange, leafHash, type TreeNode } from '../../src/audit/merkle.ts';
import { openDatabase } from '../../src/db/database.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { startTestServer, testAuditKeys } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

/*
 * An attacker with every right on the database (table owner or superuser,
 * triggers off) but without the signing key, against an auditor who kept a
 * checkpoint: each of the six kinds of tampering must be detected by the
 * verifier that `npm run audit:verify` runs, trusting only the public key.
 */

const api = await startTestServer();
const { prisma } = api.server.db;
const key = parseVerifierKey(testAuditKeys.publicKey);
const auditor = api.as(people.auditor);

for (const batch of [0, 1]) {
  for (let i = 0; i < 3; i++) await createPatient(api, { mrn: `TAMPER-${batch}-${i}` });
  await api.server.app.auditLedger.settle();
}
const keptNote = (await auditor.gql('{ auditCheckpoint }')).body.data!.auditCheckpoint as string;
const kept = openCheckpoint(keptNote, key);
// More entries after the auditor kept the checkpoint, among them one request's reads of three kinds of data: one entry.
for (let i = 0; i < 4; i++) await createPatient(api);
const readPatientId = await createPatient(api);
await openCase(api, readPatientId);
const chartRead = await api.as(people.clinician).gql('query($id: ID!) { patient(id: $id) { cases { observations { code } } } }', { id: readPatientId });
assert.equal(chartRead.body.errors, undefined, JSON.stringify(chartRead.body.errors));
await api.server.app.auditLedger.settle();
const multiKindRead = await prisma.auditEvent.findFirstOrThrow({ where: { requestId: chartRead.headers.get('x-request-id') } });
assert.equal((multiKindRead.additionalEntities as unknown[]).length, 2, 'cases and observations beside the patient');

class Rollback extends Error {}

/** Tampers inside a transaction with the triggers off, verifies what that transaction sees, then rolls it all back. */
async function detect(tamper: (tx: Prisma.TransactionClient, sql: Sql) => Promise<void>): Promise<{ problem: LogProblem | null; message: string | null }> {
  let seen: { problem: LogProblem | null; message: string | null } | undefined;
  await prisma
    .$transaction(async (tx) => {
      await tx.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`);
      const sql = prismaSql(tx);
      await tamper(tx, sql);
      const result = await verifyAuditLog(sql, key, kept);
      seen = { problem: result.problem, message: result.message };
      throw new Rollback();
    }, { timeout: 60_000 })
    .catch((error) => {
      if (!(error instanceof Rollback)) throw error;
    });
  return seen!;
}

/** What an attacker who knows the format does after changing entries: recomputes every leaf, node and checkpoint root column. */
async function recomputeTree(tx: Prisma.TransactionClient, sql: Sql): Promise<CompactRange> {
  const range = new CompactRange();
  const nodes: TreeNode[] = [];
  for (const leaf of await readLeaves(sql, 0n, 1_000_000)) nodes.push(...range.append(leafHash(canonicalAuditRecord(leaf.entry))));
  await tx.$executeRawUnsafe(`DELETE FROM "AuditTreeNode"`);
  await tx.$executeRawUnsafe(
    `INSERT INTO "AuditTreeNode" (level, index, hash) SELECT level, "index", decode(hash, 'hex') FROM jsonb_to_recordset($1::jsonb) AS x(level smallint, "index" bigint, hash text)`,
    JSON.stringify(nodes.map((node) => ({ level: node.level, index: node.index.toString(), hash: node.hash.toString('hex') }))),
  );
  await tx.$executeRawUnsafe(`UPDATE "AuditCheckpoint" SET "rootHash" = decode($1, 'hex') WHERE "treeSize" = $2::bigint`, range.root().toString('hex'), range.treeSize.toString());
  return range;
}

const eventAt = (position: number | bigint) => `(SELECT "eventSequence" FROM "AuditLeaf" WHERE position = ${position})`;

it('verifies the untouched log against the kept checkpoint', async () => {
  assert.deepEqual(await detect(async () => {}), { problem: null, message: null });
});

it('detects 6 of 6 kinds of tampering by the table owner against a kept checkpoint', async () => {
  const detected: Record<string, LogProblem | null> = {};
  // 1. An entry before the checkpoint rewritten, every hash after it recomputed.
  detected.rewrite = (
    await detect(async (tx, sql) => {
      await tx.$executeRawUnsafe(`UPDATE "AuditEvent" SET "actorSubject" = 'innocent-bystander' WHERE sequence = ${eventAt(2)}`);
      await recomputeTree(tx, sql);
    })
  ).problem;
  // 2. A forged entry appended with a correct leaf and tree, and a checkpoint signed with the attacker's own key of the same name.
  detected.forgedAppend = (
    await detect(async (tx, sql) => {
      await tx.$executeRawUnsafe(
        `INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse")
         VALUES (gen_random_uuid(), now(), 'dr-alibi', '{clinician}', 'patient.read', 'SUCCESS', '{}', '{}', 'TREAT')`,
      );
      await tx.$executeRawUnsafe(`INSERT INTO "AuditLeaf" (position, "eventSequence") SELECT (SELECT max(position) + 1 FROM "AuditLeaf"), max(sequence) FROM "AuditEvent"`);
      const range = await recomputeTree(tx, sql);
      const forger = parseSignerKey(generateSignerKey(key.name));
      await tx.$executeRawUnsafe(
        `INSERT INTO "AuditCheckpoint" ("treeSize", "rootHash", note) VALUES ($1::bigint, decode($2, 'hex'), $3)`,
        range.treeSize.toString(), range.root().toString('hex'), signCheckpoint(forger, range.treeSize, range.root()),
      );
    })
  ).problem;
  // 3. The tail cut off below the kept checkpoint, with the checkpoints that named it.
  detected.truncation = (
    await detect(async (tx) => {
      const cut = kept.size - 3n;
      await tx.$executeRawUnsafe(`DELETE FROM "AuditEvent" WHERE sequence IN (SELECT "eventSequence" FROM "AuditLeaf" WHERE position >= $1::bigint)`, cut.toString());
      await tx.$executeRawUnsafe(`DELETE FROM "AuditLeaf" WHERE position >= $1::bigint`, cut.toString());
      await tx.$executeRawUnsafe(`DELETE FROM "AuditCheckpoint" WHERE "treeSize" > $1::bigint`, cut.toString());
    })
  ).problem;
  // 4. An entry in the middle deleted, the later ones moved up and the tree recomputed.
  detected.deletion = (
    await detect(async (tx, sql) => {
      await tx.$executeRawUnsafe(`DELETE FROM "AuditEvent" WHERE sequence = ${eventAt(3)}`);
      await tx.$executeRawUnsafe(`DELETE FROM "AuditLeaf" WHERE position = 3`);
      await tx.$executeRawUnsafe(`UPDATE "AuditLeaf" SET position = -position WHERE position > 3`);
      await tx.$executeRawUnsafe(`UPDATE "AuditLeaf" SET position = -position - 1 WHERE position < 0`);
      await recomputeTree(tx, sql);
    })
  ).problem;
  // 5. Two entries swapped, the tree recomputed.
  detected.reordering = (
    await detect(async (tx, sql) => {
      await tx.$executeRawUnsafe(`UPDATE "AuditLeaf" SET position = -position WHERE position IN (1, 2)`);
      await tx.$executeRawUnsafe(`UPDATE "AuditLeaf" SET position = CASE position WHEN -1 THEN 2 ELSE 1 END WHERE position < 0`);
      await recomputeTree(tx, sql);
    })
  ).problem;
  // 6. An older backup restored: the log as it was at a checkpoint before the kept one, every row consistent and signed.
  detected.olderBackup = (
    await detect(async (tx) => {
      const [older] = await tx.$queryRawUnsafe<{ size: string | null }[]>(`SELECT max("treeSize")::text AS size FROM "AuditCheckpoint" WHERE "treeSize" < $1::bigint`, kept.size.toString());
      const size = older?.size;
      assert.ok(size, 'a checkpoint older than the kept one');
      await tx.$executeRawUnsafe(`DELETE FROM "AuditEvent" WHERE sequence NOT IN (SELECT "eventSequence" FROM "AuditLeaf" WHERE position < $1::bigint)`, size);
      await tx.$executeRawUnsafe(`DELETE FROM "AuditLeaf" WHERE position >= $1::bigint`, size);
      await tx.$executeRawUnsafe(`DELETE FROM "AuditTreeNode" WHERE (index + 1) * (1::bigint << level) > $1::bigint`, size);
      await tx.$executeRawUnsafe(`DELETE FROM "AuditCheckpoint" WHERE "treeSize" > $1::bigint`, size);
    })
  ).problem;

  assert.deepEqual(detected, {
    rewrite: 'root-mismatch',
    forgedAppend: 'wrong-signature',
    truncation: 'tree-smaller-than-checkpoint',
    deletion: 'root-mismatch',
    reordering: 'root-mismatch',
    olderBackup: 'tree-smaller-than-checkpoint',
  });
});

it('detects a leaf the database holds beyond its newest signed checkpoint, and an entry changed without its leaf', async () => {
  const unsigned = await detect(async (tx) => {
    await tx.$executeRawUnsafe(`DELETE FROM "AuditCheckpoint" WHERE "treeSize" = (SELECT max("treeSize") FROM "AuditCheckpoint")`);
  });
  assert.equal(unsigned.problem, 'unsigned-leaves');
  const altered = await detect(async (tx) => {
    await tx.$executeRawUnsafe(`UPDATE "AuditEvent" SET "breakGlass" = NOT "breakGlass" WHERE sequence = ${eventAt(kept.size + 1n)}`);
  });
  assert.deepEqual(altered.problem, 'content-altered');
  assert.match(altered.message!, new RegExp(`position ${kept.size + 1n} .* does not match its leaf`));
  // A request's reads are one entry: hiding one kind of data it read changes that entry's content.
  const hidden = await detect(async (tx) => {
    await tx.$executeRawUnsafe(`UPDATE "AuditEvent" SET "additionalEntities" = "additionalEntities" - 1 WHERE id = '${multiKindRead.id}'`);
  });
  assert.deepEqual(hidden.problem, 'content-altered');
  assert.equal((await detect(async () => {})).problem, null, 'untouched, the same log verifies');
});

/** `npm run audit:verify` on the test server's database, trusting the public key and a kept checkpoint file. */
function verifyCli(args: string[]) {
  const { dataDir, databaseUrl } = api.database;
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts', ...args], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { PATH: process.env.PATH!, DATA_DIR: dataDir, AUDIT_PUBLIC_KEY: testAuditKeys.publicKey, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
  });
}

const failsWith = (pattern: RegExp) => (error: { code: number; stderr: string }) => {
  assert.equal(error.code, 1, error.stderr);
  assert.match(error.stderr, pattern);
  return true;
};

it('`npm run audit:verify --checkpoint` exits 0 on the intact log and 1 naming a forged checkpoint or a truncated tree', async () => {
  // The embedded database admits one process at a time: stop the server first.
  await api.server.stop();
  const file = path.join(api.database.dataDir, 'kept-checkpoint.txt');
  await writeFile(file, keptNote);
  const { stdout } = await verifyCli(['--checkpoint', file]);
  assert.match(stdout, new RegExp(`Audit log intact: \\d+ records checked .* consistent with the kept checkpoint of ${kept.size} entries`));

  await writeFile(file, keptNote.replace(`\n${kept.size}\n`, `\n${kept.size - 1n}\n`));
  await assert.rejects(verifyCli(['--checkpoint', file]), failsWith(/kept checkpoint .* wrong signature/));

  await writeFile(file, keptNote);
  const db = await openDatabase({ databaseUrl: api.database.databaseUrl, dataDir: api.database.dataDir, poolSize: 1 });
  try {
    await db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`);
      await tx.$executeRawUnsafe(`DELETE FROM "AuditLeaf" WHERE position >= 2`);
      await tx.$executeRawUnsafe(`DELETE FROM "AuditCheckpoint" WHERE "treeSize" > 2`);
    });
  } finally {
    await db.close();
  }
  await assert.rejects(verifyCli(['--checkpoint', file]), failsWith(/INCONSISTENT \(tree-smaller-than-checkpoint\): the database's tree has \d+ entries, fewer than the kept checkpoint's/));
});
