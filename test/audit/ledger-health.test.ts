import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createPatient } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';

// Stalled means: entries waited longer than this, and no checkpoint was signed for as long.
const api = await startTestServer({ AUDIT_STALL_SECONDS: '1' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readiness() {
  const response = await fetch(new URL('/readyz', api.url));
  return { status: response.status, body: (await response.json()) as { auditLedger?: { status: string; queued: number; checkpointAgeSeconds: number | null } } };
}

async function metric(name: string): Promise<number | undefined> {
  const response = await fetch(new URL('/metrics', api.url), { headers: { authorization: 'Bearer test-metrics-token' } });
  const line = (await response.text()).split('\n').find((text) => text.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

it('reports a stalled sequencer: queued entries and the checkpoint age in /metrics, the ledger degraded in /readyz', async () => {
  await createPatient(api);
  await api.server.app.auditLedger.settle();
  const healthy = await readiness();
  assert.equal(healthy.status, 200);
  assert.equal(healthy.body.auditLedger?.status, 'ok');
  assert.equal(healthy.body.auditLedger?.queued, 0);
  assert.equal(await metric('clinigraph_audit_queued_entries'), 0);
  assert.ok((await metric('clinigraph_audit_checkpoint_age_seconds'))! >= 0);

  // The table's owner puts a leaf where the next batch goes: the sequencer's tree no longer matches its
  // checkpoint, so it refuses to integrate (TreeMismatchError) while entries keep arriving.
  const [{ size }] = (await api.server.db.prisma.$queryRawUnsafe<{ size: string }[]>(`SELECT "treeSize"::text AS size FROM "AuditCheckpoint" ORDER BY "treeSize" DESC LIMIT 1`)) as [{ size: string }];
  await api.asOwner(`INSERT INTO "AuditLeaf" (position, "eventSequence") VALUES (${size}, -1)`);
  await createPatient(api);
  await createPatient(api);
  await sleep(2_500);
  const stalled = await readiness();
  assert.equal(stalled.status, 200, 'still ready: writes commit with their entries, which wait for a sequencer');
  assert.equal(stalled.body.auditLedger?.status, 'degraded');
  assert.ok(stalled.body.auditLedger!.queued >= 2, JSON.stringify(stalled.body.auditLedger));
  assert.ok(stalled.body.auditLedger!.checkpointAgeSeconds! > 1);
  assert.ok((await metric('clinigraph_audit_queued_entries'))! >= 2);
  assert.ok((await metric('clinigraph_audit_checkpoint_age_seconds'))! > 1);
});
