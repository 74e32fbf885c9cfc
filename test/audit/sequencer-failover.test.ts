import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import pg from 'pg';
import type { Sql } from '../../src/audit/audit-tree.ts';
import { openCheckpoint, parseVerifierKey } from '../../src/audit/checkpoint.ts';
import { verifyAuditLog } from '../../src/audit/log-verification.ts';
import { type ChildServer, startChildServer } from '../support/child-server.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { testAuditKeys, testServerEnv } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

// Two server processes on one PostgreSQL database; the embedded database belongs to one process.
const onPostgres = Boolean(process.env.DATABASE_URL);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isActive = (server: ChildServer) => server.output().includes('audit sequencer active');

it('survives kill -9 of the sequencer under concurrent writes: the other process takes over, every committed entry is integrated, every earlier checkpoint stays consistent', { skip: !onPostgres && 'needs DATABASE_URL: PGlite is single-process' }, async () => {
  const database = await createTestDatabase();
  after(() => database.drop());
  const env = { ...(await testServerEnv(database)), LOG_LEVEL: 'info' };
  const first = await startChildServer(env);
  after(() => (first.process.signalCode === null && first.process.exitCode === null ? first.stop('SIGKILL') : undefined));
  for (let i = 0; i < 100 && !isActive(first); i++) await sleep(50);
  assert.ok(isActive(first), 'the first process is the sequencer');
  const second = await startChildServer(env);
  after(() => second.stop());
  assert.ok(!isActive(second), 'one sequencer per database');

  const admin = `Bearer ${await signToken(people.admin)}`;
  const auditor = `Bearer ${await signToken(people.auditor)}`;
  const post = async (url: string, authorization: string, query: string) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ query }) });
    return (await response.json()) as { data?: any; errors?: unknown[] };
  };
  let writing = true;
  const acknowledged: string[] = [];
  const writer = async (server: ChildServer, name: string) => {
    for (let i = 0; writing; i++) {
      const mrn = `KILL-${name}-${i}`;
      const result = await post(server.url, admin, `mutation { createPatient(input: { mrn: "${mrn}", givenName: "K", familyName: "N", birthDate: "1990-01-01", sex: FEMALE }) { id } }`).catch(
        () => undefined,
      );
      if (result?.data?.createPatient) acknowledged.push(mrn);
      else if (server === first) await sleep(20); // the killed process: nothing answers any more
    }
  };
  // Checkpoints an auditor keeps while it all happens, read through the process that survives.
  const kept = new Set<string>();
  const collector = (async () => {
    while (writing) {
      const note = (await post(second.url, auditor, '{ auditCheckpoint }').catch(() => undefined))?.data?.auditCheckpoint;
      if (note) kept.add(note);
      await sleep(100);
    }
  })();
  const writers = [writer(first, 'a'), writer(first, 'b'), writer(second, 'c'), writer(second, 'd')];

  await sleep(1500);
  assert.equal(await first.stop('SIGKILL'), null);
  const killedAt = Date.now();
  while (!isActive(second) && Date.now() - killedAt < 10_000) await sleep(50);
  const takeoverMs = Date.now() - killedAt;
  assert.ok(isActive(second), 'the surviving process took over as sequencer');
  assert.ok(takeoverMs < 5_000, `took over in ${takeoverMs} ms`);
  await sleep(1500);
  writing = false;
  await Promise.all([...writers, collector]);
  console.log(`# takeover ${takeoverMs} ms after kill -9; ${acknowledged.length} writes acknowledged; ${kept.size} checkpoints kept`);

  // The survivor integrates what is committed (including what the killed one committed and never integrated), then verifies.
  const verification = (await post(second.url, auditor, '{ verifyAuditChain { intact checkedCount totalCount problem message } }')).data.verifyAuditChain;
  assert.equal(verification.intact, true, JSON.stringify(verification));
  const client = new pg.Client({ connectionString: database.databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const sql: Sql = async <T>(text: string, values: unknown[] = []) => (await client.query(text, values)).rows as T[];
    // The verification's own audit entry was committed as it answered: give the sequencer its interval.
    const queued = async () =>
      ((await sql<{ queued: number }>(
        `SELECT count(*)::int AS queued FROM "AuditEvent" e WHERE NOT EXISTS (SELECT 1 FROM "AuditLeaf" l WHERE l."eventSequence" = e.sequence)`,
      )) as [{ queued: number }])[0].queued;
    for (let i = 0; i < 20 && (await queued()) > 0; i++) await sleep(100);
    assert.equal(await queued(), 0, 'every committed entry is integrated');
    const [{ missing }] = await sql<{ missing: number }>(
      `SELECT count(*)::int AS missing FROM "Patient" p WHERE p.mrn = ANY($1::text[])
         AND NOT EXISTS (SELECT 1 FROM "AuditEvent" e JOIN "AuditLeaf" l ON l."eventSequence" = e.sequence WHERE e.action = 'patient.create' AND p.id::text = ANY(e."resourceIds"))`,
      [acknowledged],
    ) as [{ missing: number }];
    assert.equal(missing, 0, 'every acknowledged write has its entry in the tree');
    const key = parseVerifierKey(testAuditKeys.publicKey);
    assert.ok(kept.size >= 2, 'checkpoints were published before and after the kill');
    for (const note of kept) {
      const result = await verifyAuditLog(sql, key, openCheckpoint(note, key));
      assert.equal(result.intact, true, `consistent with the checkpoint of ${openCheckpoint(note, key).size}: ${result.message}`);
    }
  } finally {
    await client.end();
  }
});
