import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { auditRecord, canonicalAuditRecord } from '../../src/audit/audit-record.ts';
import { auditEvents, entityOf } from '../support/audit.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

const api = await startTestServer();
const { prisma } = api.server.db;
const carer = api.as(people.clinician);
const admin = api.as(people.admin);

const patientId = await createPatient(api, { givenName: 'Wilhelmina', familyName: 'Quixotic', mrn: 'MRN-SECRET-77' });
const caseId = await openCase(api, patientId, 'Suspicious mass');
await carer.gql('mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }', {
  id: caseId,
  o: [{ code: 'mean_radius', value: 98765.4321 }, { code: 'history', text: 'ZEBRA-STRIPE family history' }],
});

describe('audit records', () => {
  it('record every read with who, what, which patient, why and through which request: one record a request, naming each kind read', async () => {
    const document = 'query ChartView($id: ID!) { patient(id: $id) { familyName cases { title observations { value } } } }';
    const response = await carer.gql(document, { id: patientId }, { 'x-purpose-of-use': 'COC', 'x-request-id': 'chart-1', 'user-agent': 'ward-tablet/2.1' });
    assert.equal(response.body.errors, undefined);
    const records = (await auditEvents(api, { actorSubject: people.clinician.sub }, 3)).filter((r) => r.requestId === response.headers.get('x-request-id'));
    assert.equal(records.length, 1, JSON.stringify(records));
    const [read] = records;
    // In the order the query read them; the first kind is also the record's own action, resourceType and resourceIds.
    assert.deepEqual(read!.entities, [
      { action: 'patient.read', resourceType: 'Patient', resourceIds: [patientId] },
      { action: 'case.read', resourceType: 'Case', resourceIds: [caseId] },
      { action: 'observation.read', resourceType: 'Case', resourceIds: [caseId] },
    ]);
    assert.deepEqual([read!.action, read!.resourceType, read!.resourceIds], ['patient.read', 'Patient', [patientId]]);
    // Found by any of its actions.
    for (const action of ['patient.read', 'case.read', 'observation.read']) {
      const [found] = await auditEvents(api, { actorSubject: people.clinician.sub, action }, 1);
      assert.equal(found!.sequence, read!.sequence, action);
    }
    assert.deepEqual(await auditEvents(api, { actorSubject: people.clinician.sub, action: 'image.read' }, 1), []);
    for (const record of records) {
      assert.equal(record.outcome, 'SUCCESS');
      assert.deepEqual(record.actorRoles, ['clinician']);
      assert.deepEqual(record.patientIds, [patientId]);
      assert.equal(record.purposeOfUse, 'COC');
      assert.equal(record.requestId, response.headers.get('x-request-id'));
      assert.equal(record.operationName, 'ChartView');
      assert.match(record.queryHash!, /^[0-9a-f]{64}$/);
      assert.notEqual(record.queryHash, createHash('sha256').update(document).digest('hex'), 'the query hash is keyed');
      assert.equal(record.userAgent, 'ward-tablet/2.1');
      assert.equal(record.clientAddress, '127.0.0.1');
      assert.equal(record.breakGlass, false);
    }
  });

  it('name the server’s own request id, never one a client chose, so two actors’ records cannot share one', async () => {
    const admin = api.as(people.admin);
    const [first, second] = [
      await carer.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }, { 'x-request-id': 'shared-id' }),
      await admin.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }, { 'x-request-id': 'shared-id' }),
    ];
    const [carerRead] = await auditEvents(api, { actorSubject: people.clinician.sub, action: 'patient.read' }, 1);
    const [adminRead] = await auditEvents(api, { actorSubject: people.admin.sub, action: 'patient.read' }, 1);
    assert.equal(carerRead!.requestId, first.headers.get('x-request-id'));
    assert.equal(adminRead!.requestId, second.headers.get('x-request-id'));
    assert.notEqual(carerRead!.requestId, adminRead!.requestId);
    assert.match(carerRead!.requestId!, /^[0-9a-f-]{36}$/);
    // The client's id is kept beside the server's, as a field of its own.
    assert.equal(carerRead!.clientRequestId, 'shared-id');
    assert.equal(adminRead!.clientRequestId, 'shared-id');
  });

  it('keep a well-formed client request id in the record, its leaf and its FHIR form, and no malformed one', async () => {
    const auditor = api.as(people.auditor);
    await carer.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }, { 'x-request-id': 'ward-7.trace_42' });
    const [kept] = await auditEvents(api, { actorSubject: people.clinician.sub, action: 'patient.read' }, 1);
    assert.equal(kept!.clientRequestId, 'ward-7.trace_42');
    for (const malformed of ['has spaces in it', 'x'.repeat(65), 'semi;colon', '']) {
      await carer.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }, { 'x-request-id': malformed });
      const [record] = await auditEvents(api, { actorSubject: people.clinician.sub, action: 'patient.read' }, 1);
      assert.notEqual(record!.requestId, kept!.requestId);
      assert.equal(record!.clientRequestId, null, `not stored: ${JSON.stringify(malformed)}`);
    }
    const stored = await prisma.auditEvent.findFirstOrThrow({ where: { clientRequestId: 'ward-7.trace_42' } });
    assert.match(canonicalAuditRecord(stored).toString(), /^\["clinigraph-audit\/2",.*,"ward-7\.trace_42"\]$/, 'the leaf covers it');
    await api.server.app.auditLedger.settle();
    const exported = (await auditor.gql('{ exportAuditEvents(first: 1000, filter: { actorSubject: "dr-carter", action: "patient.read" }) { ndjson } }')).body.data!.exportAuditEvents.ndjson as string;
    const fhir = exported.trim().split('\n').map((line) => JSON.parse(line)).find((event) => event.id === stored.id);
    assert.ok(fhir.extension.some((e: any) => e.url === 'urn:clinigraph:client-request-id' && e.valueString === 'ward-7.trace_42'));
    const verification = (await auditor.gql('{ verifyAuditChain { intact message } }')).body.data!.verifyAuditChain;
    assert.equal(verification.intact, true, verification.message);
  });

  it('name each patient and resource once per record, however many of them a read returned', async () => {
    const secondCaseId = await openCase(api, patientId, 'Follow-up');
    const response = await carer.gql('query($id: ID!) { patient(id: $id) { cases { id observations { code } } } }', { id: patientId });
    assert.equal(response.body.errors, undefined);
    const [record] = await auditEvents(api, { actorSubject: people.clinician.sub }, 1);
    assert.equal(record!.requestId, response.headers.get('x-request-id'));
    assert.deepEqual(record!.patientIds, [patientId]);
    for (const action of ['case.read', 'observation.read']) {
      assert.deepEqual([...entityOf(record!, action).resourceIds].sort(), [caseId, secondCaseId].sort(), action);
    }
  });

  it('take the purpose of use from the token before the header, default to TREAT, and refuse unknown codes', async () => {
    const token = await signToken(people.clinician, { claims: { purpose_of_use: 'ETREAT' } });
    await api.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }, { authorization: `Bearer ${token}`, 'x-purpose-of-use': 'HRESCH' });
    assert.equal((await auditEvents(api, { action: 'patient.read' }, 1))[0]!.purposeOfUse, 'ETREAT');
    await carer.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId });
    assert.equal((await auditEvents(api, { action: 'patient.read' }, 1))[0]!.purposeOfUse, 'TREAT');
    const bad = await carer.gql('{ me { subject } }', {}, { 'x-purpose-of-use': 'CURIOSITY' });
    assert.equal(bad.status, 400);
    assert.deepEqual(errorCodes(bad), ['BAD_USER_INPUT']);
  });

  it('hold no clinical values, names, MRNs or query variables', async () => {
    const rows = await prisma.$queryRawUnsafe<{ row: string }[]>(`SELECT row_to_json(a)::text AS row FROM "AuditEvent" a`);
    assert.ok(rows.length > 5);
    const log = rows.map((r) => r.row).join('\n');
    for (const secret of ['Wilhelmina', 'Quixotic', 'MRN-SECRET-77', '98765.4321', 'ZEBRA', 'Suspicious mass']) {
      assert.ok(!log.includes(secret), `the audit log contains "${secret}"`);
    }
  });

  it('hold no MRN recoverable from the query hash of a document that has it inline', async () => {
    const document = (mrn: string) => `{ patientByMrn(mrn: "${mrn}") { id } }`;
    const response = await carer.gql(document('MRN-SECRET-77'));
    assert.equal(response.body.errors, undefined);
    const again = await carer.gql(document('MRN-SECRET-77'));
    assert.equal(again.body.errors, undefined);
    const [second, first] = await auditEvents(api, { action: 'patient.read', actorSubject: people.clinician.sub }, 2);
    assert.equal(first!.queryHash, second!.queryHash, 'one document, one hash: an auditor can still group requests by document');
    // An auditor who guesses the document's shape tries every MRN of a hospital's format.
    const candidates = Array.from({ length: 20_000 }, (_, i) => `MRN-SECRET-${i}`);
    const found = candidates.find((mrn) => createHash('sha256').update(document(mrn)).digest('hex') === first!.queryHash);
    assert.equal(found, undefined, 'the MRN was recovered from the audit log by hashing candidates');
  });

  it('record creates and updates in the same transaction as the data, with their ids', async () => {
    const created = await admin.gql('mutation { createPatient(input: { mrn: "TX-1", givenName: "T", familyName: "X", birthDate: "2000-01-01", sex: MALE }) { id } }');
    const id = created.body.data!.createPatient.id;
    const [record] = await auditEvents(api, { action: 'patient.create', patientId: id });
    assert.deepEqual([record!.outcome, record!.resourceIds, record!.actorSubject], ['SUCCESS', [id], people.admin.sub]);
  });

  it('leave no data and no success record when a write fails, and record the failed attempt', async () => {
    const before = await prisma.patient.count();
    const creates = (await auditEvents(api, { action: 'patient.create', outcome: 'SUCCESS' })).length;
    const duplicate = await admin.gql('mutation { createPatient(input: { mrn: "TX-1", givenName: "Again", familyName: "X", birthDate: "2000-01-01", sex: MALE }) { id } }');
    assert.deepEqual(errorCodes(duplicate), ['CONFLICT']);
    assert.equal(await prisma.patient.count(), before);
    assert.equal((await auditEvents(api, { action: 'patient.create', outcome: 'SUCCESS' })).length, creates);
    const [failure] = await auditEvents(api, { action: 'patient.create', outcome: 'ERROR' }, 1);
    assert.equal(failure!.reason, 'CONFLICT');
  });
});

describe('when the audit log cannot be written', () => {
  // A trigger stands in for an audit table that refuses inserts (full disk, lost privilege, ...).
  async function breakAuditLog() {
    await prisma.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION test_refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$ LANGUAGE plpgsql`);
    await prisma.$executeRawUnsafe(`CREATE TRIGGER test_refuse_audit BEFORE INSERT ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()`);
  }
  const repairAuditLog = () => prisma.$executeRawUnsafe(`DROP TRIGGER test_refuse_audit ON "AuditEvent"`);

  it('withholds read data (fail closed) and rolls back writes with their data', async () => {
    await breakAuditLog();
    try {
      const read = await carer.gql('query($id: ID!) { patient(id: $id) { familyName } }', { id: patientId });
      assert.equal(read.status, 503);
      assert.deepEqual(errorCodes(read), ['UNAVAILABLE']);
      assert.equal(read.body.data, undefined);
      assert.doesNotMatch(JSON.stringify(read.body), /Quixotic/);

      const before = await prisma.patient.count();
      const write = await admin.gql('mutation { createPatient(input: { mrn: "LOST-1", givenName: "L", familyName: "Ost", birthDate: "2000-01-01", sex: MALE }) { id } }');
      assert.ok(write.body.errors?.length);
      assert.equal(await prisma.patient.count(), before, 'the patient was not stored without its audit record');

      // Observations are written in one statement with their audit record: neither without the other.
      const observations = await prisma.observation.count({ where: { caseId } });
      const added = await carer.gql('mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "lost", value: 1 }]) { id } }', { id: caseId });
      assert.ok(added.body.errors?.length);
      assert.equal(await prisma.observation.count({ where: { caseId } }), observations, 'the observation was not stored without its audit record');
    } finally {
      await repairAuditLog();
    }
    const again = await carer.gql('query($id: ID!) { patient(id: $id) { familyName } }', { id: patientId });
    assert.equal(again.body.data!.patient.familyName, 'Quixotic');
  });
});

describe('the audit table', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of entries, tree and checkpoints in the database itself', async () => {
    await api.server.app.auditLedger.settle();
    const changes = [
      `UPDATE "AuditEvent" SET "actorSubject" = 'someone-else'`, `DELETE FROM "AuditEvent"`, `TRUNCATE "AuditEvent"`,
      `UPDATE "AuditLeaf" SET "eventSequence" = 1`, `DELETE FROM "AuditLeaf"`, `TRUNCATE "AuditLeaf"`,
      `UPDATE "AuditTreeNode" SET hash = '\\x00'`, `DELETE FROM "AuditTreeNode"`, `TRUNCATE "AuditTreeNode"`,
      `UPDATE "AuditCheckpoint" SET note = ''`, `DELETE FROM "AuditCheckpoint"`, `TRUNCATE "AuditCheckpoint"`,
    ];
    for (const sql of changes) await assert.rejects(prisma.$executeRawUnsafe(sql), /append-only/, sql);
    const verification = await api.as(people.auditor).gql('{ verifyAuditChain { intact checkedCount totalCount } }');
    assert.equal(verification.body.data!.verifyAuditChain.intact, true);
  });

  it('stays one verifiable log under many concurrent requests', async () => {
    const requests = Array.from({ length: 40 }, (_, i) =>
      i % 4 === 0
        ? admin.gql(`mutation { createPatient(input: { mrn: "CC-${i}", givenName: "C", familyName: "C", birthDate: "2000-01-01", sex: MALE }) { id } }`)
        : carer.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }),
    );
    for (const response of await Promise.all(requests)) assert.equal(response.body.errors, undefined);
    const result = await api.as(people.auditor).gql('{ verifyAuditChain { intact checkedCount totalCount treeSize checkpoint } }');
    const verification = result.body.data!.verifyAuditChain;
    assert.equal(verification.intact, true);
    assert.equal(verification.checkedCount, verification.totalCount);
    // ... plus the record of this verification itself, appended after it ran.
    assert.equal(await prisma.auditEvent.count(), verification.checkedCount + 1);
    assert.equal(verification.treeSize, String(verification.checkedCount));
    assert.match(verification.checkpoint, new RegExp(`^clinigraph-test/audit\n${verification.treeSize}\n[A-Za-z0-9+/]{43}=\n\n— clinigraph-test/audit [A-Za-z0-9+/]{91}=\n$`));
  });
});

describe('appends', () => {
  const record = (action: string) =>
    auditRecord({ action, outcome: 'SUCCESS', resourceType: 'Patient', resourceIds: [patientId], patientIds: [patientId] }, { subject: 'dr-append', roles: ['clinician'], purposeOfUse: 'TREAT' }, { requestId: action, clientRequestId: null, operationName: null, queryHash: null, clientAddress: null, userAgent: null });
  async function statementsOf(work: () => Promise<void>): Promise<number> {
    let statements = 0;
    const stop = api.server.db.onQuery(() => statements++);
    await work();
    stop();
    return statements;
  }

  it('are one insert each, with no lock and no read of the log, and are integrated into the tree in their order', async () => {
    const log = new AuditLog(prisma, pino({ level: 'silent' }));
    const other = new AuditLog(prisma, pino({ level: 'silent' })); // another process
    assert.equal(await statementsOf(() => log.append([record('append.first')])), 1);
    assert.equal(await statementsOf(() => other.append([record('append.elsewhere'), record('append.elsewhere')])), 1);
    assert.equal(await statementsOf(() => log.append([record('append.last')])), 1);

    const verification = await api.server.app.auditLedger.verify();
    assert.deepEqual([verification.intact, verification.checkedCount], [true, await prisma.auditEvent.count()]);
    const positions = await prisma.$queryRawUnsafe<{ action: string }[]>(
      `SELECT e.action FROM "AuditLeaf" l JOIN "AuditEvent" e ON e.sequence = l."eventSequence" WHERE e."actorSubject" = 'dr-append' ORDER BY l.position`,
    );
    assert.deepEqual(positions.map((row) => row.action), ['append.first', 'append.elsewhere', 'append.elsewhere', 'append.last']);
  });
});

describe('auditor queries', () => {
  const auditor = api.as(people.auditor);

  it('filter by actor, patient, action, outcome and time, newest first, with paging', async () => {
    const all = await auditEvents(api, { patientId }, 100);
    assert.ok(all.length > 3);
    assert.ok(all.every((record) => record.patientIds.includes(patientId)));
    const sequences = all.map((record) => Number(record.sequence));
    assert.deepEqual(sequences, [...sequences].sort((a, b) => b - a));
    const denied = await auditEvents(api, { outcome: 'DENIED' });
    assert.ok(denied.every((record) => record.outcome === 'DENIED'));
    const future = await auditEvents(api, { from: new Date(Date.now() + 3_600_000).toISOString() });
    assert.deepEqual(future, []);

    const page = async (after?: string) =>
      (await auditor.gql('query($after: String) { auditEvents(first: 2, after: $after, filter: { actorSubject: "dr-carter" }) { totalCount edges { node { sequence } } pageInfo { endCursor hasNextPage } } }', { after })).body.data!.auditEvents;
    const first = await page();
    const second = await page(first.pageInfo.endCursor);
    assert.equal(first.edges.length, 2);
    assert.ok(Number(second.edges[0].node.sequence) < Number(first.edges[1].node.sequence));
    assert.equal(first.totalCount, second.totalCount);
  });

  it('export FHIR R4 AuditEvent resources as NDJSON, in tree order, page by page', async () => {
    await api.server.app.auditLedger.settle();
    const response = await auditor.gql('{ exportAuditEvents(first: 5) { ndjson count hasNextPage endCursor } }');
    const exported = response.body.data!.exportAuditEvents;
    const lines = exported.ndjson.trim().split('\n').map((line: string) => JSON.parse(line));
    assert.equal(lines.length, 5);
    assert.equal(exported.count, 5);
    assert.equal(exported.hasNextPage, true);
    const [first] = lines;
    assert.equal(first.resourceType, 'AuditEvent');
    assert.match(first.recorded, /^\d{4}-\d\d-\d\dT/);
    assert.ok(['C', 'R', 'U', 'D', 'E'].includes(first.action));
    assert.ok(['0', '4', '8'].includes(first.outcome));
    assert.equal(first.type.system, 'http://terminology.hl7.org/CodeSystem/audit-event-type');
    assert.equal(first.agent[0].requestor, true);
    const leafIndex = (event: any) => event.extension.find((e: any) => e.url === 'urn:clinigraph:audit-leaf-index').valueString;
    assert.deepEqual(lines.map(leafIndex), ['0', '1', '2', '3', '4']);
    const next = await auditor.gql('query($after: String) { exportAuditEvents(first: 1, after: $after) { ndjson } }', { after: exported.endCursor });
    const following = JSON.parse(next.body.data!.exportAuditEvents.ndjson);
    assert.equal(leafIndex(following), '5');
    const sequenceCursor = Buffer.from('seq:5').toString('base64url');
    assert.deepEqual(errorCodes(await auditor.gql('query($after: String) { exportAuditEvents(after: $after) { count } }', { after: sequenceCursor })), ['BAD_USER_INPUT'], 'a cursor of another kind is refused');
    const patientRead = (await auditEvents(api, { action: 'patient.read', patientId }, 1))[0]!;
    const fhir = (await auditor.gql(`{ exportAuditEvents(first: 1, filter: { action: "patient.read", patientId: "${patientId}" }) { ndjson } }`)).body.data!.exportAuditEvents.ndjson;
    const entity = JSON.parse(fhir).entity;
    assert.ok(entity.some((e: any) => e.what.reference === `Patient/${patientId}` && e.role?.code === '1'));
    assert.ok(patientRead);
    const [exportRecord] = await auditEvents(api, { action: 'audit.export' }, 1);
    assert.equal(exportRecord!.actorSubject, people.auditor.sub, 'exports are audited');
  });

  it('export a request’s reads as one FHIR AuditEvent naming each action and each resource with its action, its leaf in format 3', async () => {
    const response = await carer.gql('query($id: ID!) { patient(id: $id) { id cases { id observations { code } } } }', { id: patientId }, { 'x-request-id': 'multi-kind-1' });
    assert.equal(response.body.errors, undefined);
    const caseIds = response.body.data!.patient.cases.map((episode: { id: string }) => episode.id);
    await api.server.app.auditLedger.settle();
    const stored = await prisma.auditEvent.findFirstOrThrow({ where: { clientRequestId: 'multi-kind-1' } });
    assert.match(canonicalAuditRecord(stored).toString(), /^\["clinigraph-audit\/3",.*,"multi-kind-1",\[\["case\.read","Case",\[/);
    const filter = `{ action: "observation.read", actorSubject: "${people.clinician.sub}" }`;
    const ndjson = (await auditor.gql(`{ exportAuditEvents(first: 1000, filter: ${filter}) { ndjson } }`)).body.data!.exportAuditEvents.ndjson as string;
    const fhir = ndjson.trim().split('\n').map((line) => JSON.parse(line)).find((event) => event.id === stored.id);
    assert.deepEqual(fhir.subtype.map((coding: { code: string }) => coding.code), ['patient.read', 'case.read', 'observation.read']);
    const named = fhir.entity.filter((entity: any) => entity.detail).map((entity: any) => `${entity.detail[0].valueString} ${entity.what.reference}`);
    assert.deepEqual(named, [
      `patient.read Patient/${patientId}`,
      ...caseIds.map((id: string) => `case.read Case/${id}`),
      ...caseIds.map((id: string) => `observation.read Case/${id}`),
    ]);
    const verification = (await auditor.gql('{ verifyAuditChain { intact message } }')).body.data!.verifyAuditChain;
    assert.equal(verification.intact, true, verification.message);
  });
});
