import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { randomUUID } from 'node:crypto';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { canonicalAuditRecord, type AuditRecord } from '../../src/audit/audit-record.ts';
import { parseSignerKey, parseVerifierKey } from '../../src/audit/checkpoint.ts';
import { verifyAuditLog } from '../../src/audit/log-verification.ts';
import { leafHash } from '../../src/audit/merkle.ts';
import { prismaSql } from '../../src/audit/prisma-sql.ts';
import { AuditSequencer } from '../../src/audit/sequencer.ts';
import { openDatabase } from '../../src/db/database.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { testAuditKeys } from '../support/test-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const onPostgres = Boolean(process.env.DATABASE_URL);

/** A database of its own and a sequencer of batches of three whose interval (an hour) never comes within a test. */
async function sequencerOfThree() {
  const database = await createTestDatabase();
  after(() => database.drop());
  const db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 2 });
  after(() => db.close());
  const sequencer = new AuditSequencer(
    db.adapterFactory,
    database.databaseUrl,
    { signer: parseSignerKey(testAuditKeys.signingKey), batchSize: 3, intervalMs: 3_600_000, checkpointDir: undefined },
    pino({ level: 'silent' }),
  );
  sequencer.start();
  after(() => sequencer.stop());
  assert.ok(await sequencer.integrateAll(), 'the one sequencer of this database');
  const treeSize = async () => Number((await db.prisma.$queryRawUnsafe<{ size: string }[]>(`SELECT count(*)::text AS size FROM "AuditLeaf"`))[0]!.size);
  /** Inserts committed entries (as a writer of an earlier version did: without a leaf hash, so the sequencer hashes them). */
  const insert = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await db.prisma.$executeRawUnsafe(
        `INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse")
         VALUES (gen_random_uuid(), now(), 'batch-test', '{}', 'batch.fill', 'SUCCESS', '{}', '{}', 'TREAT')`,
      );
    }
  };
  return { database, db, sequencer, treeSize, insert };
}

it('integrates at once when a batch fills, not at the next interval', async () => {
  const { db, sequencer, treeSize, insert } = await sequencerOfThree();
  const append = async (count: number) => {
    await insert(count);
    sequencer.noteAppended(count);
  };
  const before = await treeSize();

  await append(2);
  await sleep(500);
  assert.equal(await treeSize(), before, 'two of three: they wait for the interval');

  await append(1);
  for (let waited = 0; (await treeSize()) < before + 3 && waited < 10_000; waited += 50) await sleep(50);
  assert.equal(await treeSize(), before + 3, 'the third fills the batch: all three are integrated and signed at once');
  const [checkpoint] = await db.prisma.$queryRawUnsafe<{ size: string }[]>(`SELECT max("treeSize")::text AS size FROM "AuditCheckpoint"`);
  assert.equal(Number(checkpoint!.size), before + 3);
});

it('integrates a batch that filled while the previous one was being written as soon as that one is done', { skip: !onPostgres && 'holds the sequencer mid-batch with a table lock from another session: PostgreSQL' }, async () => {
  const { database, sequencer, treeSize, insert } = await sequencerOfThree();
  const before = await treeSize();
  // Another session holds the checkpoint table, so the next batch stops at its checkpoint until the lock is released.
  const holder = new pg.Client({ connectionString: database.databaseUrl });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE "AuditCheckpoint" IN EXCLUSIVE MODE');

  await insert(1);
  const round = sequencer.integrateAll();
  const waitingOnLock = async () =>
    (await holder.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'clinigraph-audit-sequencer' AND wait_event_type = 'Lock'`)).rowCount === 1;
  for (let waited = 0; !(await waitingOnLock()) && waited < 10_000; waited += 20) await sleep(20);
  assert.ok(await waitingOnLock(), 'the batch of one entry is held at its checkpoint');

  // Meanwhile writers fill a whole batch.
  await insert(3);
  sequencer.noteAppended(3);
  await holder.query('COMMIT');
  await holder.end();
  await round;
  assert.equal(await treeSize(), before + 4, 'the full batch followed the one that was running, without waiting for the interval');
});

it('takes the leaf hash its writer stored with an entry; a verifier, hashing the content itself, catches one that does not match', async () => {
  const { db, sequencer } = await sequencerOfThree();
  const record = (action: string): AuditRecord => ({
    id: randomUUID(), recordedAt: new Date(), actorSubject: 'writer-test', actorRoles: ['clinician'], action, outcome: 'SUCCESS', resourceType: 'Patient',
    resourceIds: [randomUUID()], patientIds: [randomUUID()], purposeOfUse: 'TREAT', breakGlass: false, reason: null, requestId: randomUUID(),
    clientRequestId: null, operationName: 'Test', queryHash: null, clientAddress: '127.0.0.1', userAgent: 'test', additionalEntities: [],
  });
  const written = record('patient.read');
  await new AuditLog(db.prisma, pino({ level: 'silent' })).append([written]);
  await sequencer.integrateAll();
  const [stored] = await db.prisma.$queryRawUnsafe<{ leafHash: Uint8Array; node: Uint8Array }[]>(
    `SELECT e."leafHash", n.hash AS node FROM "AuditEvent" e JOIN "AuditLeaf" l ON l."eventSequence" = e.sequence
       JOIN "AuditTreeNode" n ON n.level = 0 AND n.index = l.position WHERE e.id = $1::uuid`,
    written.id,
  );
  const expected = leafHash(canonicalAuditRecord(written));
  assert.deepEqual(Buffer.from(stored!.leafHash), expected, 'the writer stored the hash of what it wrote');
  assert.deepEqual(Buffer.from(stored!.node), expected, 'and that is the leaf in the tree');
  const key = parseVerifierKey(testAuditKeys.publicKey);
  assert.equal((await verifyAuditLog(prismaSql(db.prisma), key)).intact, true);

  // An entry stored with another entry's leaf hash (a faulty writer, or someone with the server's rights before it was integrated).
  const faulty = record('patient.update');
  await db.prisma.$executeRawUnsafe(
    `INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceType", "resourceIds", "patientIds", "purposeOfUse", "requestId", "operationName", "clientAddress", "userAgent", "leafHash")
     VALUES ($1::uuid, $2::timestamptz, $3, $4::text[], $5, 'SUCCESS', $6, $7::text[], $8::text[], $9, $10, $11, $12, $13, $14)`,
    faulty.id, faulty.recordedAt, faulty.actorSubject, faulty.actorRoles, faulty.action, faulty.resourceType, faulty.resourceIds, faulty.patientIds,
    faulty.purposeOfUse, faulty.requestId, faulty.operationName, faulty.clientAddress, faulty.userAgent, leafHash(canonicalAuditRecord(record('patient.read'))),
  );
  await sequencer.integrateAll();
  const verdict = await verifyAuditLog(prismaSql(db.prisma), key);
  assert.equal(verdict.problem, 'content-altered');
  assert.match(verdict.message!, /does not match its leaf/);
});
