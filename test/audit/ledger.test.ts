import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { openCheckpoint, parseVerifierKey } from '../../src/audit/checkpoint.ts';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.ts';
import { verifyInclusionProofDocument } from '../../src/audit/proof-verification.ts';
import { witnessFileName } from '../../src/audit/sequencer.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { verifyLegacyAuditChain } from '../../src/db/legacy-audit-chain.ts';
import { applyMigrations, migrationsDir, readMigrationList } from '../../src/db/migrations.ts';
import { startServer } from '../../src/server/start.ts';
import { createPatient } from '../support/fixtures.ts';
import { openRaw } from '../support/raw-database.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { errorCodes, startTestServer, testAuditKeys, testServerEnv } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

const onPostgres = Boolean(process.env.DATABASE_URL);
const api = await startTestServer();
const auditor = api.as(people.auditor);
const key = parseVerifierKey(testAuditKeys.publicKey);
const b64 = (hashes: string[]) => hashes.map((hash) => Buffer.from(hash, 'base64'));
const root = fileURLToPath(new URL('../../', import.meta.url));

async function newestCheckpoint() {
  const note = (await auditor.gql('{ auditCheckpoint }')).body.data!.auditCheckpoint as string | null;
  return note ? openCheckpoint(note, key) : undefined;
}

describe('the sequencer', () => {
  it('integrates a committed entry into a signed checkpoint within a second, by itself', async () => {
    const patientId = await createPatient(api);
    const committed = Date.now();
    const [event] = await api.server.db.prisma.auditEvent.findMany({ where: { action: 'patient.create', resourceIds: { has: patientId } } });
    for (;;) {
      const proof = await auditor.gql('query($id: ID!) { auditInclusionProof(eventId: $id) { leafIndex } }', { id: event!.id });
      if (!proof.body.errors) break;
      assert.deepEqual(errorCodes(proof), ['BAD_USER_INPUT'], 'not integrated yet is the only expected refusal');
      assert.ok(Date.now() - committed < 1500, 'integrated within a second (and a half on a loaded machine)');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('appends every checkpoint it signs to the witness file outside the database', async () => {
    await api.server.app.auditLedger.settle();
    const witness = await readFile(path.join(api.database.dataDir, 'audit-checkpoints', witnessFileName), 'utf8');
    const notes = witness.split(/(?<=\n— [^\n]+\n)/);
    const sizes = notes.map((note) => openCheckpoint(note, key).size);
    assert.deepEqual(sizes, [...sizes].sort((a, b) => (a < b ? -1 : 1)));
    assert.equal(sizes.at(-1), (await newestCheckpoint())!.size);
  });
});

describe('proofs (auditors)', () => {
  it('prove an entry is in the signed tree: the proof verifies with the public key alone', async () => {
    const patientId = await createPatient(api);
    await api.server.app.auditLedger.settle();
    const [event] = await api.server.db.prisma.auditEvent.findMany({ where: { action: 'patient.create', resourceIds: { has: patientId } } });
    const response = await auditor.gql(
      'query($id: ID!) { auditInclusionProof(eventId: $id) { eventId leafIndex treeSize entry leafHash hashes checkpoint } }',
      { id: event!.id },
    );
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    const proof = response.body.data!.auditInclusionProof;
    const checkpoint = openCheckpoint(proof.checkpoint, key);
    assert.equal(proof.treeSize, checkpoint.size.toString());
    const leaf = leafHash(Buffer.from(proof.entry));
    assert.equal(leaf.toString('base64'), proof.leafHash);
    assert.ok(JSON.parse(proof.entry)[8].includes(patientId), 'the leaf is the entry itself (its resource ids)');
    assert.ok(verifyInclusion(leaf, BigInt(proof.leafIndex), checkpoint.size, b64(proof.hashes), checkpoint.root));
    assert.ok(!verifyInclusion(leafHash(Buffer.from(proof.entry.replace(patientId, 'someone-else'))), BigInt(proof.leafIndex), checkpoint.size, b64(proof.hashes), checkpoint.root));
  });

  it('check offline, with the public key alone: a saved proof passes, a tampered entry, path or checkpoint fails with its reason', async () => {
    const patientId = await createPatient(api);
    await createPatient(api); // the entry is not the last leaf: its audit path is not empty
    await api.server.app.auditLedger.settle();
    const [event] = await api.server.db.prisma.auditEvent.findMany({ where: { action: 'patient.create', resourceIds: { has: patientId } } });
    const response = await auditor.gql(
      'query($id: ID!) { auditInclusionProof(eventId: $id) { eventId leafIndex treeSize entry leafHash hashes checkpoint } }',
      { id: event!.id },
    );
    const proof = response.body.data!.auditInclusionProof;
    assert.ok(proof.hashes.length > 0);
    const check = (document: object, kept?: string) => {
      const result = verifyInclusionProofDocument(document, key, kept);
      return result.valid ? 'valid' : result.problem;
    };
    assert.equal(check(proof), 'valid');
    const altered = proof.entry.replace(patientId, 'someone-else');
    assert.equal(check({ ...proof, entry: altered }), 'entry-mismatch', 'the entry no longer hashes to its leaf');
    assert.equal(check({ ...proof, entry: altered, leafHash: leafHash(Buffer.from(altered)).toString('base64') }), 'path-mismatch', 'entry and leaf hash both altered');
    const flipped = Buffer.from(proof.hashes[0], 'base64');
    flipped[0]! ^= 1;
    assert.equal(check({ ...proof, hashes: [flipped.toString('base64'), ...proof.hashes.slice(1)] }), 'path-mismatch');
    assert.equal(check({ ...proof, leafIndex: (BigInt(proof.leafIndex) + 1n).toString() }), 'path-mismatch', 'another position');
    const [origin, size, ...rest] = proof.checkpoint.split('\n');
    assert.equal(check({ ...proof, checkpoint: [origin, BigInt(size) + 1n, ...rest].join('\n') }), 'wrong-signature', 'a checkpoint rewritten');
    assert.equal(check(proof, proof.checkpoint), 'valid', 'against a kept checkpoint of its size');
    await createPatient(api);
    await api.server.app.auditLedger.settle();
    const later = (await auditor.gql('{ auditCheckpoint }')).body.data!.auditCheckpoint as string;
    assert.equal(check(proof, later), 'checkpoint-mismatch', 'a kept checkpoint of another size');
    assert.equal(check({ ...proof, hashes: 'none' }), 'malformed-proof');

    // The command, as a third party runs it: no database, no data directory of the server's.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-proof-'));
    after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'proof.json'), JSON.stringify(proof));
    await writeFile(path.join(dir, 'tampered.json'), JSON.stringify({ ...proof, entry: altered }));
    await writeFile(path.join(dir, 'audit.pub'), testAuditKeys.publicKey);
    const env = { PATH: process.env.PATH!, DATA_DIR: path.join(dir, 'nothing') };
    const run = (file: string) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/audit-verify-proof.ts', '--proof', path.join(dir, file), '--public-key', path.join(dir, 'audit.pub')], { cwd: root, env }).then(
        ({ stdout }) => ({ code: 0, output: stdout }),
        (error: { code: number; stderr: string }) => ({ code: error.code, output: error.stderr }),
      );
    const [good, bad] = await Promise.all([run('proof.json'), run('tampered.json')]);
    assert.equal(good.code, 0, good.output);
    assert.match(good.output, new RegExp(`^Proof valid: entry ${event!.id} \\(patient\\.create, SUCCESS, by .* is at position ${proof.leafIndex} of the tree of ${proof.treeSize} entries`));
    assert.equal(bad.code, 1, bad.output);
    assert.match(bad.output, /^Proof NOT VALID \(entry-mismatch\): the entry does not hash to the proof's leaf hash/);
  });

  it('prove that an earlier signed tree is a prefix of the newest', async () => {
    const earlier = (await newestCheckpoint())!;
    await createPatient(api);
    await api.server.app.auditLedger.settle();
    const response = await auditor.gql('query($from: String!) { auditConsistencyProof(fromSize: $from) { fromSize toSize hashes fromCheckpoint toCheckpoint } }', {
      from: earlier.size.toString(),
    });
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    const proof = response.body.data!.auditConsistencyProof;
    const [from, to] = [openCheckpoint(proof.fromCheckpoint, key), openCheckpoint(proof.toCheckpoint, key)];
    assert.ok(from.root.equals(earlier.root));
    assert.ok(to.size > from.size);
    assert.ok(verifyConsistency(from.size, to.size, b64(proof.hashes), from.root, to.root));
  });

  it('are for auditors only, and refuse unknown entries, sizes that are not numbers and sizes never signed with coded errors', async () => {
    const clinician = api.as(people.clinician);
    assert.deepEqual(errorCodes(await clinician.gql('{ auditCheckpoint }')), ['FORBIDDEN']);
    assert.deepEqual(errorCodes(await clinician.gql('{ auditConsistencyProof(fromSize: "1") { toSize } }')), ['FORBIDDEN']);
    assert.deepEqual(errorCodes(await auditor.gql('{ auditInclusionProof(eventId: "7f1c0a66-2d0e-4a51-9a4e-5b1f1f0c2d11") { leafIndex } }')), ['NOT_FOUND']);
    assert.deepEqual(errorCodes(await auditor.gql('{ auditInclusionProof(eventId: "not-a-uuid") { leafIndex } }')), ['BAD_USER_INPUT']);
    for (const size of ['-1', '1e3', '99999999999999999999', ' 1']) {
      assert.deepEqual(errorCodes(await auditor.gql('query($s: String!) { auditConsistencyProof(fromSize: $s) { toSize } }', { s: size })), ['BAD_USER_INPUT'], size);
    }
    const newest = (await newestCheckpoint())!;
    const unsigned = await auditor.gql('query($s: String!) { auditConsistencyProof(fromSize: "1", toSize: $s) { toSize } }', { s: (newest.size + 1000n).toString() });
    assert.deepEqual(errorCodes(unsigned), ['BAD_USER_INPUT']);
  });

  it('come from the command line too, checked there with the public key', { skip: !onPostgres && 'the embedded database admits one process at a time: PostgreSQL' }, async () => {
    await createPatient(api);
    await api.server.app.auditLedger.settle();
    const newest = (await newestCheckpoint())!;
    // Batches are as large as what was waiting, so which sizes were signed depends on timing: take the oldest one.
    const oldest = await api.server.db.prisma.auditCheckpoint.findFirstOrThrow({ orderBy: { treeSize: 'asc' } });
    const [event] = await api.server.db.prisma.auditEvent.findMany({ take: 1, orderBy: { sequence: 'asc' } });
    const env = { PATH: process.env.PATH!, DATA_DIR: api.database.dataDir, DATABASE_URL: api.database.databaseUrl!, AUDIT_PUBLIC_KEY: testAuditKeys.publicKey };
    const run = (args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/audit.ts', ...args], { cwd: root, env });
    const inclusion = JSON.parse((await run(['proof', '--entry', event!.id])).stdout);
    assert.deepEqual([inclusion.valid, inclusion.leafIndex], [true, '0']);
    assert.equal(verifyInclusionProofDocument(inclusion, key).valid, true, 'what audit:proof prints is what audit:verify-proof reads');
    const consistency = JSON.parse((await run(['proof', '--from', oldest.treeSize.toString(), '--to', newest.size.toString()])).stdout);
    assert.equal(consistency.valid, true);
    const out = path.join(api.database.dataDir, 'kept.txt');
    await run(['checkpoint', '--out', out]);
    assert.ok(openCheckpoint(await readFile(out, 'utf8'), key).size >= newest.size);
  });
});

describe('commit order', () => {
  it('never integrates an entry ahead of one that was inserted earlier but commits later, and skips neither', { skip: !onPostgres && 'needs two connections: PostgreSQL' }, async () => {
    await api.server.app.auditLedger.settle();
    const slow = new pg.Client({ connectionString: api.database.databaseUrl });
    await slow.connect();
    after(() => slow.end());
    const insert = (client: pg.Client | pg.Pool, action: string) =>
      client.query(`INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse")
        VALUES (gen_random_uuid(), now(), 'order-test', '{}', $1, 'SUCCESS', '{}', '{}', 'TREAT') RETURNING sequence::text`, [action]);
    await slow.query('BEGIN');
    const first = (await insert(slow, 'order.slow')).rows[0].sequence as string;
    const fast = new pg.Pool({ connectionString: api.database.databaseUrl, max: 1 });
    after(() => fast.end());
    const second = (await insert(fast, 'order.fast')).rows[0].sequence as string;
    assert.ok(BigInt(first) < BigInt(second), 'the slow entry arrived first');
    // The fast one is committed, but integrating it now would give it a position before the slow one (or lose the slow one).
    await new Promise((resolve) => setTimeout(resolve, 600));
    await api.server.app.auditLedger.sequencer.integrateAll();
    const leafOf = async (sequence: string) =>
      (await fast.query(`SELECT position::text FROM "AuditLeaf" WHERE "eventSequence" = $1::bigint`, [sequence])).rows[0]?.position as string | undefined;
    assert.equal(await leafOf(second), undefined, 'an entry waits for the transactions that were running when it committed');
    await slow.query('COMMIT');
    await api.server.app.auditLedger.settle();
    const [slowAt, fastAt] = [await leafOf(first), await leafOf(second)];
    assert.ok(slowAt !== undefined && fastAt !== undefined, 'both are integrated');
    assert.ok(BigInt(slowAt) < BigInt(fastAt));
    const verification = await api.server.app.auditLedger.verify();
    assert.equal(verification.intact, true, verification.message ?? '');
  });
});

describe('exports', () => {
  it('page by leaf index, so an entry that commits late between two pages is on the later one', { skip: !onPostgres && 'needs two connections: PostgreSQL' }, async () => {
    await api.server.app.auditLedger.settle();
    const insert = (client: pg.Client | pg.Pool, action: string) =>
      client.query(`INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse")
        VALUES (gen_random_uuid(), now(), 'export-test', '{}', $1, 'SUCCESS', '{}', '{}', 'TREAT') RETURNING id::text, sequence::text`, [action]);
    /** Follows the export from a cursor to its end, as a SIEM would; returns the ids seen and where to go on. */
    const follow = async (from: string | null) => {
      const ids: string[] = [];
      let cursor = from;
      for (;;) {
        const response = await auditor.gql('query($after: String) { exportAuditEvents(first: 100, after: $after, filter: { actorSubject: "export-test" }) { ndjson hasNextPage endCursor } }', { after: cursor });
        assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
        const page = response.body.data!.exportAuditEvents;
        ids.push(...page.ndjson.split('\n').filter(Boolean).map((line: string) => JSON.parse(line).id));
        cursor = page.endCursor ?? cursor;
        if (!page.hasNextPage) return { ids, cursor };
      }
    };
    const slow = new pg.Client({ connectionString: api.database.databaseUrl });
    await slow.connect();
    after(() => slow.end());
    const fast = new pg.Pool({ connectionString: api.database.databaseUrl, max: 1 });
    after(() => fast.end());
    const before = (await insert(fast, 'export.before')).rows[0];
    await api.server.app.auditLedger.settle();
    await slow.query('BEGIN');
    const late = (await insert(slow, 'export.late')).rows[0];
    const early = (await insert(fast, 'export.early')).rows[0];
    assert.ok(BigInt(late.sequence) < BigInt(early.sequence), 'the late entry has the lower arrival number');
    await new Promise((resolve) => setTimeout(resolve, 600));
    await api.server.app.auditLedger.sequencer.integrateAll();
    const firstPages = await follow(null);
    assert.ok(firstPages.ids.includes(before.id));
    assert.ok(!firstPages.ids.includes(late.id), 'not committed yet');
    await slow.query('COMMIT');
    await api.server.app.auditLedger.settle();
    const laterPages = await follow(firstPages.cursor);
    const seen = [...firstPages.ids, ...laterPages.ids];
    for (const entry of [before, late, early]) assert.equal(seen.filter((id) => id === entry.id).length, 1, `${entry.id} exported once`);
  });
});

/** A record's hash in the chain of versions before the transparency log (hashAuditRecord at 62cd060), written here independently of the upgrade's SQL. */
function legacyChainHash(record: { sequence: number; id: string; recordedAt: string; action: string; previousHash: string }): string {
  const fields = [String(record.sequence), record.id, record.recordedAt, 'chain-era', ['clinician'], record.action, 'SUCCESS', null, [], [], 'TREAT', false, null, null, null, null, null, null];
  return createHash('sha256').update(JSON.stringify([...fields, record.previousHash])).digest('hex');
}

/**
 * A database as version 62cd060 left it (every migration before the transparency log) holding a hash chain of
 * five records, then changed by `tamper` (as the tables' owner, triggers off).
 */
async function chainEraDatabase(tamper?: string) {
  const database = await createTestDatabase({ empty: true });
  after(() => database.drop());
  const raw = await openRaw(database);
  const all = (await readMigrationList()).migrationDirectories.map((dir) => dir.path);
  const ours = all.findIndex((name) => name.endsWith('_audit_transparency_log'));
  const earlier = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-migrations-'));
  let previousHash = '0'.repeat(64);
  try {
    await cp(path.join(migrationsDir, 'migration_lock.toml'), path.join(earlier, 'migration_lock.toml'));
    for (const name of all.slice(0, ours)) await cp(path.join(migrationsDir, name), path.join(earlier, name), { recursive: true });
    await applyMigrations(raw.adapterFactory, earlier);
    for (let sequence = 1; sequence <= 5; sequence++) {
      const record = { sequence, id: randomUUID(), recordedAt: new Date(Date.UTC(2026, 10, 30, 12, 0, sequence)).toISOString(), action: `chain.${sequence}`, previousHash };
      previousHash = legacyChainHash(record);
      await raw.query(
        `INSERT INTO "AuditEvent" (sequence, id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse", "previousHash", hash)
         VALUES ($1, $2, $3, 'chain-era', '{clinician}', $4, 'SUCCESS', '{}', '{}', 'TREAT', $5, $6)`,
        [sequence, record.id, record.recordedAt, record.action, record.previousHash, previousHash],
      );
    }
    if (tamper) for (const sql of ['ALTER TABLE "AuditEvent" DISABLE TRIGGER USER', tamper, 'ALTER TABLE "AuditEvent" ENABLE TRIGGER USER']) await raw.query(sql);
  } finally {
    await raw.close();
    await rm(earlier, { recursive: true, force: true });
  }
  return Object.assign(database, { head: previousHash });
}

const startQuietly = async (database: Awaited<ReturnType<typeof createTestDatabase>>) =>
  startServer(loadConfig({ ...(await testServerEnv(database)), DATABASE_POOL_SIZE: '3' }), pino({ level: 'silent' }));

/** Whether the chain's columns are still there, i.e. the migration that drops them did not run. */
async function chainColumnsKept(database: Awaited<ReturnType<typeof createTestDatabase>>): Promise<boolean> {
  const raw = await openRaw(database);
  try {
    const rows = await raw.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'AuditEvent' AND column_name = 'hash'`);
    return rows.length === 1;
  } finally {
    await raw.close();
  }
}

/** `ALTER DATABASE … SET`, as the owner would before the upgrade. */
async function setForDatabase(database: Awaited<ReturnType<typeof createTestDatabase>>, name: string, value: string): Promise<void> {
  const raw = await openRaw(database);
  try {
    const [{ database: current }] = (await raw.query<{ database: string }>('SELECT current_database() AS database')) as [{ database: string }];
    await raw.query(`ALTER DATABASE "${current}" SET ${name} = '${value}'`);
  } finally {
    await raw.close();
  }
}

describe('the hash chain of earlier versions', () => {
  it('is verified, then moves into the tree in its order, and the log goes on after it', async () => {
    const database = await chainEraDatabase();
    const server = await startQuietly(database);
    try {
      const ledger = server.app.auditLedger;
      await ledger.settle();
      const rows = await server.db.prisma.$queryRawUnsafe<{ action: string; sequence: string }[]>(
        `SELECT e.action, e.sequence::text FROM "AuditLeaf" l JOIN "AuditEvent" e ON e.sequence = l."eventSequence" ORDER BY l.position LIMIT 5`,
      );
      assert.deepEqual(rows.map((row) => row.action), ['chain.1', 'chain.2', 'chain.3', 'chain.4', 'chain.5']);
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(people.auditor)}` },
        body: JSON.stringify({ query: '{ verifyAuditChain { intact checkedCount totalCount } }' }),
      });
      const { data } = (await response.json()) as { data: { verifyAuditChain: { intact: boolean; checkedCount: number } } };
      assert.equal(data.verifyAuditChain.intact, true);
      const [newest] = await server.db.prisma.auditEvent.findMany({ orderBy: { sequence: 'desc' }, take: 1 });
      assert.ok(newest!.sequence > 5n, 'new entries are numbered after the chain');
    } finally {
      await server.stop();
    }
  });

  it('is not sealed when a record was altered: the upgrade refuses, naming it, and migrates nothing until the owner accepts that record and no other', async () => {
    const database = await chainEraDatabase(`UPDATE "AuditEvent" SET action = 'chain.rewritten' WHERE sequence IN (3, 5)`);
    await assert.rejects(startQuietly(database), (error: Error & { code?: string }) => {
      assert.equal(error.name, 'LegacyAuditChainError');
      assert.equal(error.code, 'AUDIT_CHAIN_BROKEN');
      assert.match(error.message, /^The audit log's hash chain is broken at record 3 \([0-9a-f-]{36}\): its hash does not match its content/);
      assert.match(error.message, /clinigraph\.accept_broken_audit_chain_at = '3'/);
      return true;
    });
    assert.ok(await chainColumnsKept(database), 'nothing was migrated');
    await setForDatabase(database, 'clinigraph.accept_broken_audit_chain_at', '3');
    // Accepting record 3 does not waive record 5, altered too.
    await assert.rejects(startQuietly(database), (error: Error) => {
      assert.match(error.message, /^The audit log's hash chain is broken at record 5 \([0-9a-f-]{36}\): its hash does not match its content/);
      assert.match(error.message, /clinigraph\.accept_broken_audit_chain_at = '3,5'/);
      return true;
    });
    assert.ok(await chainColumnsKept(database), 'still nothing migrated');
    await setForDatabase(database, 'clinigraph.accept_broken_audit_chain_at', '3,5');
    const server = await startQuietly(database);
    await server.stop();
    assert.ok(!(await chainColumnsKept(database)), 'accepted deliberately, the upgrade goes on');
  });

  it('is checked without the pool\'s statement timeout: a check that takes longer than it completes', { skip: !onPostgres && 'statement_timeout is a PostgreSQL pool setting' }, async () => {
    const database = await chainEraDatabase();
    const db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 2, statementTimeoutMs: 100 });
    const locker = new pg.Client({ connectionString: database.databaseUrl });
    await locker.connect();
    try {
      // The check waits for the table as it would read a long chain: longer than the pool lets a statement run.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE "AuditEvent" IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const checked = verifyLegacyAuditChain(db.adapterFactory);
      await new Promise((resolve) => setTimeout(resolve, 600));
      await locker.query('COMMIT');
      assert.deepEqual(await checked, { records: 5n, head: database.head });
      assert.ok(Date.now() - started >= 600, 'the check waited past the timeout');
      const [pooled] = await db.prisma.$queryRawUnsafe<{ statement_timeout: string }[]>('SHOW statement_timeout');
      assert.equal(pooled!.statement_timeout, '100ms', 'the pool keeps its own limit after the check');
    } finally {
      await locker.end();
      await db.close();
    }
  });

  it('is not sealed when a record was removed from the middle: the next one is named', async () => {
    const database = await chainEraDatabase(`DELETE FROM "AuditEvent" WHERE sequence = 2`);
    await assert.rejects(startQuietly(database), /^LegacyAuditChainError: The audit log's hash chain is broken at record 3 \([0-9a-f-]{36}\): it does not link to the record before it/);
    assert.ok(await chainColumnsKept(database));
  });

  it('is not sealed when its newest records were removed, against the head an auditor kept', async () => {
    const database = await chainEraDatabase(`DELETE FROM "AuditEvent" WHERE sequence = 5`);
    await setForDatabase(database, 'clinigraph.legacy_audit_chain_head', database.head);
    await assert.rejects(startQuietly(database), new RegExp(`^LegacyAuditChainError: The audit log's hash chain ends at [0-9a-f]{64} \\(4 records\\), not at the head kept before the upgrade \\(${database.head}\\)`));
    assert.ok(await chainColumnsKept(database));
  });
});
