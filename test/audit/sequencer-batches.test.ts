import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { pino } from 'pino';
import { parseSignerKey } from '../../src/audit/checkpoint.ts';
import { AuditSequencer } from '../../src/audit/sequencer.ts';
import { openDatabase } from '../../src/db/database.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { testAuditKeys } from '../support/test-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('integrates at once when a batch fills, not at the next interval', async () => {
  const database = await createTestDatabase();
  after(() => database.drop());
  const db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 2 });
  after(() => db.close());
  // An interval of an hour: only a full batch can start the integration within this test.
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
  const append = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await db.prisma.$executeRawUnsafe(
        `INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse")
         VALUES (gen_random_uuid(), now(), 'batch-test', '{}', 'batch.fill', 'SUCCESS', '{}', '{}', 'TREAT')`,
      );
    }
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
