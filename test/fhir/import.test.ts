import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProductionFeaturesRepository } from '../../src/fhir/production-features.repository.ts';
import { validate } from '../../src/fhir/validation.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';
import { ehrBundle, ehrPatient, encounterEntry, hospitalMrnSystem, observationEntry, patientEntry, resultSystem, visitSystem } from './ehr-bundles.ts';
import { fhirClient, interfaceEngine } from './fhir-client.ts';

// The shipped models in production: their features' codes are what imports match and convert.
const api = await startTestServer({ DEFAULT_MODELS: 'true', FHIR_MRN_SYSTEM: hospitalMrnSystem });
// The server's own client: the embedded database takes no second connection.
const raw = { query: <T>(sql: string, params: unknown[] = []) => api.server.db.prisma.$queryRawUnsafe<T[]>(sql, ...params) };
const engine = fhirClient(api, interfaceEngine);

async function counts() {
  const [row] = await raw.query<{ patients: number; cases: number; observations: number; links: number }>(`
    SELECT (SELECT count(*)::int FROM "Patient") AS patients, (SELECT count(*)::int FROM "Case") AS cases,
           (SELECT count(*)::int FROM "Observation") AS observations, (SELECT count(*)::int FROM "FhirIdentifier") AS links`);
  return row!;
}

describe('FHIR import', () => {
  it('answers the CapabilityStatement without a token, and errors as OperationOutcomes', async () => {
    const anonymous = fhirClient(api);
    const metadata = await anonymous('/metadata');
    assert.equal(metadata.status, 200);
    assert.match(metadata.headers.get('content-type')!, /^application\/fhir\+json/);
    assert.equal(metadata.body.resourceType, 'CapabilityStatement');
    assert.equal(metadata.body.fhirVersion, '4.0.1');
    const types = metadata.body.rest[0].resource.map((r: { type: string }) => r.type);
    assert.deepEqual(types, ['Patient', 'Encounter', 'EpisodeOfCare', 'Observation', 'RiskAssessment', 'Device']);
    // Exactly what an import's PUT of a known record does: patients and cases change, observations are kept as first stored.
    assert.deepEqual(metadata.body.rest[0].resource.map((r: any) => r.conditionalUpdate), [true, true, true, false, undefined, undefined]);
    validate(metadata.body);

    const unauthenticated = await anonymous('', { body: ehrBundle('anon', 1) });
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.body.resourceType, 'OperationOutcome');
    assert.equal(unauthenticated.headers.get('www-authenticate'), 'Bearer');
    const unknown = await engine('/Medication/1');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.resourceType, 'OperationOutcome');
    const notJson = await engine('', { body: '{"resourceType": "Bundle",' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.resourceType, 'OperationOutcome');
    assert.doesNotMatch(JSON.stringify(notJson.body), /at .*\.ts:\d+/);
  });

  it('stores an EHR transaction: patients by MRN, encounters as cases, observations matched to features and converted to their units', async () => {
    const before = await counts();
    const bundle = ehrBundle('TX', 2);
    const response = await engine('', { body: bundle });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.type, 'transaction-response');
    assert.equal(response.body.entry.length, bundle.entry!.length);
    const statuses = response.body.entry.map((e: any) => e.response.status);
    // The HDL result has only a dataAbsentReason: answered, not stored.
    assert.deepEqual(statuses.slice(0, 8), ['201 Created', '201 Created', '201 Created', '201 Created', '201 Created', '201 Created', '201 Created', '200 OK']);
    assert.match(response.body.entry[0].response.location, /^Patient\/[0-9a-f-]{36}$/);
    assert.match(response.body.entry[1].response.location, /^Encounter\/[0-9a-f-]{36}$/);
    assert.match(response.body.entry[7].response.outcome.issue[0].diagnostics, /dataAbsentReason/);

    const after = await counts();
    assert.equal(after.patients - before.patients, 2);
    assert.equal(after.cases - before.cases, 2);
    // bmi, cholesterol, glucose, two blood-pressure components, smoking status: 6 rows a visit.
    assert.equal(after.observations - before.observations, 12);
    const patientId = response.body.entry[0].response.location.split('/')[1];
    const [patient] = await raw.query<any>(`SELECT mrn, "givenName", "familyName", "birthDate"::text AS "birthDate", sex, address FROM "Patient" WHERE id = $1`, [patientId]);
    const person = ehrPatient('TX', 0);
    assert.deepEqual(
      { ...patient },
      { mrn: person.mrn, givenName: person.given, familyName: person.family, birthDate: person.birthDate, sex: 'FEMALE', address: `12 Harbour Road, Springfield, MA, ${person.postalCode}, US` },
    );
    const rows = await raw.query<any>(
      `SELECT o.code, o.value, o.text, o.unit FROM "Observation" o JOIN "Case" c ON c.id = o."caseId" WHERE c."patientId" = $1 ORDER BY o.code`,
      [patientId],
    );
    assert.deepEqual(rows.map((row) => ({ ...row })), [
      { code: '72166-2', value: null, text: '8517006', unit: null },
      { code: '8462-4', value: 84, text: null, unit: 'mm[Hg]' },
      { code: '8480-6', value: 132, text: null, unit: 'mm[Hg]' },
      { code: 'bmi', value: 27.4, text: null, unit: 'kg/m2' },
      // 1.92 g/L converted by the UCUM library.
      { code: 's1_tc', value: 192, text: null, unit: 'mg/dL' },
      { code: 's6_glu', value: 101, text: null, unit: 'mg/dL' },
    ]);
    // The encounter's period.start (09:00+01:00) is the case's start, read back by FHIR and GraphQL.
    const caseId = response.body.entry[1].response.location.split('/')[1];
    const [episode] = await raw.query<{ startedAt: Date }>(`SELECT "startedAt" FROM "Case" WHERE id = $1`, [caseId]);
    assert.equal(episode!.startedAt.toISOString(), '2026-03-02T08:00:00.000Z');
    assert.equal((await engine(`/Encounter/${caseId}`)).body.period.start, '2026-03-02T08:00:00.000Z');
    const viaGraphql = await api.as(interfaceEngine).gql('query($id: ID!) { case(id: $id) { startedAt } }', { id: caseId });
    assert.equal(viaGraphql.body.data?.case?.startedAt, '2026-03-02T08:00:00.000Z', JSON.stringify(viaGraphql.body));
    const [audited] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'fhir.import' AND outcome = 'SUCCESS' AND $1 = ANY("patientIds")`, [patientId]);
    assert.equal(audited!.n, 1);
    const [created] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'patient.create' AND "actorSubject" = $1 AND $2 = ANY("patientIds")`, [interfaceEngine.sub, patientId]);
    assert.equal(created!.n, 1);

    // The same Bundle again: every entry found, nothing written.
    const again = await engine('', { body: bundle });
    assert.equal(again.status, 200);
    assert.ok(again.body.entry.every((e: any) => e.response.status === '200 OK'), JSON.stringify(again.body.entry.map((e: any) => e.response.status)));
    assert.deepEqual(again.body.entry.slice(0, 7).map((e: any) => e.response.location), response.body.entry.slice(0, 7).map((e: any) => e.response.location));
    assert.deepEqual(await counts(), after);
    const [updates] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'patient.update' AND $1 = ANY("patientIds")`, [patientId]);
    assert.equal(updates!.n, 0);
  });

  it('stores when a finished Encounter or EpisodeOfCare ended (period.end), reads it back, and refuses an end before the start or in the future', async () => {
    const bundle = ehrBundle('END', 1);
    const visit = bundle.entry![1]!.resource as any;
    assert.equal(visit.resourceType, 'Encounter');
    Object.assign(visit, { status: 'finished', period: { start: '2026-03-02T09:00:00+01:00', end: '2026-03-02T10:30:00+01:00' } });
    const episode = {
      fullUrl: 'urn:uuid:7d3f0c52-3a7e-4d2b-9a61-2f4e8c1b5a90',
      resource: { resourceType: 'EpisodeOfCare', identifier: [{ system: visitSystem, value: 'END-EOC' }], status: 'finished', patient: { reference: bundle.entry![0]!.fullUrl }, period: { start: '2025-01-10', end: '2025-06-30' } },
      request: { method: 'POST', url: 'EpisodeOfCare', ifNoneExist: `identifier=${visitSystem}|END-EOC` },
    };
    const response = await engine('', { body: { ...bundle, entry: [...bundle.entry!, episode] } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const encounterId = response.body.entry[1].response.location.split('/')[1];
    const episodeId = response.body.entry.at(-1).response.location.split('/')[1];
    const rows = await raw.query<{ id: string; status: string; endedAt: Date; closedAt: Date }>(`SELECT id, status, "endedAt", "closedAt" FROM "Case" WHERE id IN ($1::uuid, $2::uuid)`, [encounterId, episodeId]);
    const stored = new Map(rows.map((row) => [row.id, row]));
    assert.equal(stored.get(encounterId)!.status, 'CLOSED');
    assert.equal(stored.get(encounterId)!.endedAt.toISOString(), '2026-03-02T09:30:00.000Z');
    assert.ok(stored.get(encounterId)!.closedAt > stored.get(encounterId)!.endedAt, 'closedAt stays when clinigraph closed it');
    assert.equal(stored.get(episodeId)!.endedAt.toISOString(), '2025-06-30T00:00:00.000Z');
    const encounter = await engine(`/Encounter/${encounterId}`);
    assert.equal(encounter.body.status, 'finished');
    assert.deepEqual(encounter.body.period, { start: '2026-03-02T08:00:00.000Z', end: '2026-03-02T09:30:00.000Z' });
    assert.deepEqual((await engine(`/EpisodeOfCare/${episodeId}`)).body.period, { start: '2025-01-10T00:00:00.000Z', end: '2025-06-30T00:00:00.000Z' });
    const viaGraphql = await api.as(interfaceEngine).gql('query($id: ID!) { case(id: $id) { endedAt } }', { id: encounterId });
    assert.equal(viaGraphql.body.data?.case?.endedAt, '2026-03-02T09:30:00.000Z', JSON.stringify(viaGraphql.body));

    const before = await counts();
    for (const [label, period, why] of [
      ['EARLY', { start: '2026-03-02T09:00:00+01:00', end: '2026-03-02T08:59:00+01:00' }, /ends before its start/],
      ['NOSTART', { end: '2026-03-02T10:30:00+01:00' }, /ends before its start \(without period.start/],
      ['FUTURE', { start: '2026-03-02T09:00:00+01:00', end: '2999-01-01T00:00:00Z' }, /cannot end in the future/],
    ] as const) {
      const refused = ehrBundle(`END${label}`, 1);
      Object.assign(refused.entry![1]!.resource!, { status: 'finished', period });
      const answer = await engine('', { body: refused });
      assert.equal(answer.status, 422, label);
      assert.equal(answer.body.resourceType, 'OperationOutcome');
      assert.deepEqual(answer.body.issue[0].expression, ['Bundle.entry[1].resource.period.end'], label);
      assert.match(answer.body.issue[0].diagnostics, why, label);
    }
    assert.deepEqual(await counts(), before);

    // An encounter still in progress may carry its planned end (the expected discharge): accepted, left open, not kept.
    const ongoing = ehrBundle('ENDPLANNED', 1);
    Object.assign(ongoing.entry![1]!.resource!, { status: 'in-progress', period: { start: '2026-03-02T09:00:00+01:00', end: '2999-01-01T00:00:00Z' } });
    const accepted = await engine('', { body: ongoing });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const [open] = await raw.query<{ status: string; endedAt: Date | null }>(`SELECT status, "endedAt" FROM "Case" WHERE id = $1::uuid`, [accepted.body.entry[1].response.location.split('/')[1]]);
    assert.deepEqual({ ...open }, { status: 'OPEN', endedAt: null });
  });

  it('updates a patient conditionally when the EHR sends a change', async () => {
    const person = ehrPatient('UPD', 0);
    const first = patientEntry(person);
    assert.equal((await engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [first] } })).status, 200);
    const moved = patientEntry({ ...person, family: 'Married-Name' });
    const response = await engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [moved] } });
    assert.equal(response.body.entry[0].response.status, '200 OK');
    const [row] = await raw.query<{ familyName: string }>(`SELECT "familyName" FROM "Patient" WHERE mrn = $1`, [person.mrn]);
    assert.equal(row!.familyName, 'Married-Name');
  });

  it('updates a known encounter conditionally or by id: a changed title or start is written and audited, the same resource again changes nothing', async () => {
    const bundle = ehrBundle('ENCPUT', 1);
    const first = await engine('', { body: bundle });
    assert.equal(first.status, 200);
    const caseId = first.body.entry[1].response.location.split('/')[1] as string;
    const updates = async () => (await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'case.update' AND outcome = 'SUCCESS' AND $1 = ANY("resourceIds"::text[])`, [caseId]))[0]!.n;
    const visit = structuredClone(bundle.entry![1]!) as any;
    visit.resource.type[0].text = 'Diabetes review';
    visit.resource.period = { start: '2026-03-01T08:00:00.000Z' };
    visit.request = { method: 'PUT', url: `Encounter?identifier=${visitSystem}|ENCPUT-V0` };
    const send = (entry: any) => engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [bundle.entry![0], entry] } });
    const response = await send(visit);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual([response.body.entry[1].response.status, response.body.entry[1].response.location], ['200 OK', `Encounter/${caseId}`]);
    const read = await engine(`/Encounter/${caseId}`);
    assert.deepEqual([read.body.type[0].text, read.body.period.start], ['Diabetes review', '2026-03-01T08:00:00.000Z']);
    assert.equal(await updates(), 1);
    assert.equal((await send(visit)).status, 200);
    assert.equal(await updates(), 1, 'the same encounter again writes nothing');

    const byId = structuredClone(visit);
    byId.resource.type[0].text = 'Diabetes annual review';
    byId.request = { method: 'PUT', url: `Encounter/${caseId}` };
    assert.equal((await send(byId)).body.entry[1].response.status, '200 OK');
    assert.equal((await engine(`/Encounter/${caseId}`)).body.type[0].text, 'Diabetes annual review');
    assert.equal(await updates(), 2);

    // A start after the case's end is refused, naming period.start; nothing changes.
    const closing = structuredClone(visit);
    Object.assign(closing.resource, { status: 'finished', period: { start: '2026-03-01T08:00:00.000Z', end: '2026-03-01T09:00:00.000Z' } });
    assert.equal((await send(closing)).status, 200);
    const late = structuredClone(visit);
    Object.assign(late.resource, { status: 'finished', period: { start: '2026-03-01T10:00:00.000Z' } });
    const refused = await send(late);
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.body.issue[0].expression, ['Bundle.entry[1].resource.period.start']);
    assert.equal((await engine(`/Encounter/${caseId}`)).body.period.start, '2026-03-01T08:00:00.000Z');
  });

  it('matches observations to a user model\'s coded features once it is in production, converting to its units (the catalog follows promotions)', async () => {
    const scientist = api.as(people.dataScientist);
    // C-reactive protein (LOINC 1988-5) in mg/L, as the model's feature specification says.
    const rows = Array.from({ length: 80 }, (_, i) => `${(i * 37) % 100},${i % 3 === 0 ? 'yes' : 'no'}`);
    const started = await scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', {
      input: {
        name: 'sepsis-crp',
        task: 'BINARY',
        target: 'septic',
        data: { csv: `crp,septic\n${rows.join('\n')}\n` },
        seed: 3,
        maxEpochs: 5,
        features: { features: { crp: { unit: 'mg/L', type: 'numeric', possibleRange: [0, 500], code: { system: 'http://loinc.org', code: '1988-5', display: 'C reactive protein' } } } },
      },
    });
    assert.equal(started.body.errors, undefined, JSON.stringify(started.body.errors));
    let job: any;
    for (let attempt = 0; attempt < 600 && !['SUCCEEDED', 'FAILED'].includes(job?.status); attempt++) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, 200));
      job = (await scientist.gql('query($id: ID!) { trainingJob(id: $id) { status error modelVersion { id } } }', { id: started.body.data!.trainModel.id })).body.data!.trainingJob;
    }
    assert.equal(job.status, 'SUCCEEDED', job.error);

    const crp = (key: string) => {
      const bundle = ehrBundle(key, 1);
      const observation = observationEntry(bundle.entry![0]!.fullUrl!, bundle.entry![1]!.fullUrl!, `${key}-crp`, {
        code: { coding: [{ system: 'http://loinc.org', code: '1988-5' }] },
        valueQuantity: { value: 1.5, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
      });
      return { ...bundle, entry: [bundle.entry![0]!, bundle.entry![1]!, observation] };
    };
    const stored = async (response: any) => (await raw.query<{ code: string; value: number; unit: string }>(`SELECT code, value, unit FROM "Observation" WHERE id = $1::uuid`, [response.body.entry[2].response.location.split('/')[1]]))[0];
    // A candidate is not in production: its codes match nothing yet.
    const before = await engine('', { body: crp('CRP1') });
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.deepEqual({ ...(await stored(before)) }, { code: '1988-5', value: 1.5, unit: 'mg/dL' });
    const promoted = await api.as(people.admin).gql('mutation($id: ID!) { promoteModelVersion(id: $id, comment: "catalog test") { id } }', { id: job.modelVersion.id });
    assert.equal(promoted.body.errors, undefined, JSON.stringify(promoted.body.errors));
    const after = await engine('', { body: crp('CRP2') });
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.deepEqual({ ...(await stored(after)) }, { code: 'crp', value: 15, unit: 'mg/L' });
  });

  it('reads which versions are in production once in a while, not on every request, and on the next request after a promotion here', async () => {
    const { prisma } = api.server.db;
    const bundle = ehrBundle('CATALOG', 1);
    const imported = await engine('', { body: bundle });
    assert.equal(imported.status, 200);
    const read = () => engine(`/${imported.body.entry[0].response.location}`).then((response) => assert.equal(response.status, 200));
    const { versionIds, versions } = ProductionFeaturesRepository.prototype;
    const counted = { idReads: 0, builds: 0 };
    ProductionFeaturesRepository.prototype.versionIds = function (this: ProductionFeaturesRepository) {
      counted.idReads += 1;
      return versionIds.call(this);
    };
    ProductionFeaturesRepository.prototype.versions = function (this: ProductionFeaturesRepository) {
      counted.builds += 1;
      return versions.call(this);
    };
    try {
      await read();
      const before = { ...counted };
      for (let i = 0; i < 3; i++) await read();
      assert.deepEqual(counted, before, 'repeated requests do not ask the database again');
      // A candidate (a copy of a version in production) promoted through the API.
      const { id: _id, version: _version, stage: _stage, promotedBy: _by, promotedAt: _at, promotionComment: _comment, result, cardText, ...copied } = await prisma.modelVersion.findFirstOrThrow({ where: { stage: 'PRODUCTION' } });
      const latest = await prisma.modelVersion.findFirstOrThrow({ where: { modelId: copied.modelId }, orderBy: { version: 'desc' } });
      const candidate = await prisma.modelVersion.create({ data: { ...copied, result: result as object, cardText: cardText as object, version: latest.version + 1 } });
      const promoted = await api.as(people.admin).gql('mutation($id: ID!) { promoteModelVersion(id: $id, comment: "catalog cache test") { id } }', { id: candidate.id });
      assert.equal(promoted.body.errors, undefined, JSON.stringify(promoted.body.errors));
      await read();
      assert.deepEqual(counted, { idReads: before.idReads + 1, builds: before.builds + 1 }, 'the next request rebuilt the catalog from the new versions in production');
    } finally {
      Object.assign(ProductionFeaturesRepository.prototype, { versionIds, versions });
    }
  });

  it('answers a conditional update of a known observation with a note, and keeps the value stored', async () => {
    const bundle = ehrBundle('OBSPUT', 1);
    const first = await engine('', { body: bundle });
    assert.equal(first.status, 200);
    const glucose = structuredClone(bundle.entry![4]!) as any;
    assert.equal(glucose.resource.identifier[0].value, 'OBSPUT-0-glu');
    glucose.resource.valueQuantity = { ...glucose.resource.valueQuantity, value: 180 };
    glucose.request = { method: 'PUT', url: `Observation?identifier=${resultSystem}|OBSPUT-0-glu` };
    const before = await counts();
    const response = await engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [bundle.entry![0], bundle.entry![1], glucose] } });
    assert.equal(response.status, 200);
    assert.equal(response.body.entry[2].response.status, '200 OK');
    assert.equal(response.body.entry[2].response.location, first.body.entry[4].response.location);
    assert.match(response.body.entry[2].response.outcome.issue[0].diagnostics, /kept as first stored/);
    assert.deepEqual(await counts(), before);
    const [row] = await raw.query<{ value: number }>(`SELECT value FROM "Observation" WHERE id = $1`, [first.body.entry[4].response.location.split('/')[1]]);
    assert.equal(row!.value, 101);
  });

  it('stores nothing of a transaction with one bad entry, and names the entry and element', async () => {
    const before = await counts();
    const bundle = ehrBundle('BAD', 2);
    // Cholesterol in kilograms cannot become mg/dL.
    const cholesterol = bundle.entry![11]!.resource as any;
    assert.equal(cholesterol.code.coding[0].code, '2093-3');
    cholesterol.valueQuantity = { value: 2, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' };
    const response = await engine('', { body: bundle });
    assert.equal(response.status, 422);
    assert.equal(response.body.resourceType, 'OperationOutcome');
    assert.deepEqual(response.body.issue[0].expression, ['Bundle.entry[11].resource.valueQuantity.code']);
    assert.match(response.body.issue[0].diagnostics, /kg cannot be converted to mg\/dL/);
    assert.deepEqual(await counts(), before);
    const [failed] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'fhir.import' AND outcome = 'ERROR' AND "actorSubject" = $1`, [interfaceEngine.sub]);
    assert.ok(failed!.n >= 1);
  });

  it('refuses a unit that is free text without writing it to the log', async () => {
    const bundle = ehrBundle('FREEUNIT', 2);
    const cholesterol = bundle.entry![11]!.resource as any;
    cholesterol.valueQuantity = { value: 2, unit: 'mg per Dr Smith', system: 'http://unitsofmeasure.org', code: 'mg per Dr Smith' };
    const printed: string[] = [];
    const { log } = console;
    console.log = (...args: unknown[]) => void printed.push(args.join(' '));
    try {
      const response = await engine('', { body: bundle });
      assert.equal(response.status, 422);
      assert.match(response.body.issue[0].diagnostics, /not a UCUM code/);
    } finally {
      console.log = log;
    }
    assert.deepEqual(printed.filter((line) => line.includes('Smith')), [], 'the sender\'s text is not printed');
  });

  it('refuses resources the FHIR validator rejects, naming the element, before anything is stored', async () => {
    const before = await counts();
    const bundle = ehrBundle('INVALID', 1);
    (bundle.entry![0]!.resource as any).birthDate = '1980-13-45';
    (bundle.entry![3]!.resource as any).valueQuantity = { value: 'high' };
    const response = await engine('', { body: bundle });
    assert.equal(response.status, 422);
    const paths = response.body.issue.flatMap((i: any) => i.expression);
    assert.ok(paths.includes('Bundle.entry[0].resource.birthDate'), JSON.stringify(paths));
    assert.deepEqual(await counts(), before);

    const planned = ehrBundle('PLANNED', 1);
    (planned.entry![1]!.resource as any).period = { start: '2999-01-01T09:00:00Z' };
    const future = await engine('', { body: planned });
    assert.equal(future.status, 422);
    assert.deepEqual(future.body.issue[0].expression, ['Bundle.entry[1].resource.period.start']);
    assert.deepEqual(await counts(), before);

    const notBundle = await engine('', { body: { resourceType: 'Patient' } });
    assert.equal(notBundle.status, 400);
    const history = await engine('', { body: { resourceType: 'Bundle', type: 'history', entry: [] } });
    assert.equal(history.status, 400);
    assert.deepEqual(history.body.issue[0].expression, ['Bundle.type']);
    const withoutMrn = ehrBundle('NOMRN', 1);
    (withoutMrn.entry![0]!.resource as any).identifier = [{ system: 'urn:other', value: 'x' }];
    const refused = await engine('', { body: withoutMrn });
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.body.issue[0].expression, ['Bundle.entry[0].resource.identifier']);
  });

  it('processes a batch entry by entry: a bad entry is refused, the others stored', async () => {
    const person = ehrPatient('BATCH', 0);
    const patient = patientEntry(person);
    const conditionalRef = `Patient?identifier=${hospitalMrnSystem}|${person.mrn}`;
    const visit = encounterEntry(conditionalRef, 'BATCH-V0');
    const bad = observationEntry(conditionalRef, visit.fullUrl!, 'BATCH-bad', { code: { coding: [{ system: 'http://loinc.org', code: '39156-5' }] }, valueQuantity: { value: 20, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } });
    const response = await engine('', { body: { resourceType: 'Bundle', type: 'batch', entry: [patient, visit, bad] } });
    assert.equal(response.status, 200);
    assert.equal(response.body.type, 'batch-response');
    assert.deepEqual(response.body.entry.map((e: any) => e.response.status), ['201 Created', '201 Created', '422']);
    assert.deepEqual(response.body.entry[2].response.outcome.issue[0].expression, ['Bundle.entry[2].resource.valueQuantity.code']);
  });

  it('imports a Bundle of 1,000 resources in one transaction', async () => {
    const before = await counts();
    const bundle = ehrBundle('BIG', 125);
    assert.equal(bundle.entry!.length, 1000);
    const response = await engine('', { body: bundle });
    assert.equal(response.status, 200, JSON.stringify(response.body).slice(0, 500));
    const after = await counts();
    assert.deepEqual([after.patients - before.patients, after.cases - before.cases, after.observations - before.observations], [125, 125, 750]);
  });
});

describe('FHIR import: who may', () => {
  it('refuses roles that may not write what the Bundle holds, and stores nothing', async () => {
    const before = await counts();
    for (const who of [people.dataScientist, people.auditor, people.clinician]) {
      const response = await fhirClient(api, who)('', { body: ehrBundle(`ROLE-${who.sub}`, 1) });
      assert.equal(response.status, 403, who.sub);
      assert.equal(response.body.resourceType, 'OperationOutcome');
    }
    assert.deepEqual(await counts(), before);
  });

  it('lets an integration read back what its import answered, and nothing of another client, no predictions, no audit log', async () => {
    const response = await engine('', { body: ehrBundle('READBACK', 1) });
    const locations: string[] = response.body.entry.flatMap((e: any) => (e.response.location ? [e.response.location] : []));
    assert.deepEqual(locations.map((l) => l.split('/')[0]), ['Patient', 'Encounter', 'Observation', 'Observation', 'Observation', 'Observation', 'Observation']);
    for (const location of locations) {
      const read = await engine(`/${location}`);
      assert.equal(read.status, 200, location);
      assert.equal(`${read.body.resourceType}/${read.body.id}`, location);
      validate(read.body);
    }
    const [patientId, encounterId] = locations.slice(0, 2).map((l) => l.split('/')[1]!);
    assert.equal((await engine(`/Observation?patient=${patientId}`)).body.total, 6);

    // Another interface engine: the same answers as for records that do not exist.
    const other = fhirClient(api, { sub: 'other-engine', roles: ['integration'] });
    const absentId = '00000000-0000-4000-8000-000000000000';
    for (const location of locations.slice(0, 3)) {
      const [type, id] = location.split('/');
      const [outOfReach, absent] = [await other(`/${location}`), await other(`/${type}/${absentId}`)];
      assert.equal(outOfReach.status, 404, location);
      assert.equal(absent.status, 404);
      assert.deepEqual(JSON.parse(JSON.stringify(outOfReach.body).replaceAll(id!, 'ID')), JSON.parse(JSON.stringify(absent.body).replaceAll(absentId, 'ID')));
    }
    const byMrn = await other(`/Patient?identifier=${encodeURIComponent(`${hospitalMrnSystem}|${ehrPatient('READBACK', 0).mrn}`)}`);
    assert.equal(byMrn.body.total, 0);
    assert.equal((await other(`/Observation?patient=${patientId}`)).body.total, 0);
    const gqlOther = await api.as({ sub: 'other-engine', roles: ['integration'] }).gql('query($id: ID!) { patient(id: $id) { mrn } }', { id: patientId });
    assert.equal(gqlOther.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    const [denied] = await raw.query<{ reason: string }>(`SELECT reason FROM "AuditEvent" WHERE "actorSubject" = 'other-engine' AND outcome = 'DENIED' AND $1 = ANY("patientIds") LIMIT 1`, [patientId]);
    assert.equal(denied!.reason, 'not-imported-by-client');

    // No predictions and no audit log, by FHIR or GraphQL.
    const risks = await engine(`/RiskAssessment?subject=Patient/${patientId}`);
    assert.equal(risks.status, 403);
    assert.equal(risks.body.resourceType, 'OperationOutcome');
    const predict = await api.as(interfaceEngine).gql('mutation($id: ID!) { predict(caseId: $id, model: "diabetes-progression") { id } }', { id: encounterId });
    assert.equal(predict.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    const graphql = await api.as(interfaceEngine).gql('{ auditEvents(first: 1) { totalCount } }');
    assert.equal(graphql.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    // Nor who cares for its patients or what they consented to: the patient it imported, and nothing of the care around it.
    const governance = await api.as(interfaceEngine).gql('query($id: ID!) { patient(id: $id) { mrn careTeam { clinicianSubject } consentHistory { status } } }', { id: patientId });
    assert.equal(governance.body.data!.patient.mrn, ehrPatient('READBACK', 0).mrn);
    assert.deepEqual([governance.body.data!.patient.careTeam, governance.body.data!.patient.consentHistory], [null, null]);
    assert.deepEqual(governance.body.errors!.map((error) => [error.extensions!.code, ...error.path!]).sort(), [
      ['FORBIDDEN', 'patient', 'careTeam'],
      ['FORBIDDEN', 'patient', 'consentHistory'],
    ]);

    // Through GraphQL too: what it registers it reaches, and the other engine does not.
    const gqlEngine = api.as(interfaceEngine);
    const created = await gqlEngine.gql('mutation { createPatient(input: { mrn: "GQL-ENGINE-1", givenName: "Ada", familyName: "Quill", birthDate: "1970-01-01", sex: FEMALE }) { id } }');
    const registeredId = created.body.data!.createPatient.id;
    const opened = await gqlEngine.gql('mutation($id: ID!) { openCase(input: { patientId: $id, title: "Feed", startedAt: "2026-02-01T08:00:00Z" }) { id startedAt } }', { id: registeredId });
    assert.equal(opened.body.data?.openCase?.startedAt, '2026-02-01T08:00:00.000Z', JSON.stringify(opened.body));
    assert.equal((await engine(`/Encounter/${opened.body.data!.openCase.id}`)).body.period.start, '2026-02-01T08:00:00.000Z');
    assert.equal((await other(`/Patient/${registeredId}`)).status, 404);

    // A second engine whose import names the same MRN matches the hospital's patient (no duplicate) and then reaches it.
    const again = await other('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [patientEntry(ehrPatient('READBACK', 0))] } });
    assert.equal(again.body.entry[0].response.location, `Patient/${patientId}`);
    assert.equal((await other(`/Patient/${patientId}`)).status, 200);
  });

  it('takes SMART Backend Services tokens: system scopes without a roles claim make an integration, and scopes narrow', async () => {
    const backend = fhirClient(api, { sub: 'backend-service', roles: [] }, { roles: undefined, scope: 'system/Patient.cu system/Encounter.cu system/Observation.cu' });
    const imported = await backend('', { body: ehrBundle('SMART', 1) });
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    const patientOnly = fhirClient(api, { sub: 'backend-patients', roles: [] }, { roles: undefined, scope: 'system/Patient.cu' });
    const narrowed = await patientOnly('', { body: ehrBundle('SMART2', 1) });
    assert.equal(narrowed.status, 403);
    assert.deepEqual(narrowed.body.issue[0].expression, ['Bundle.entry[1].request.method']);
    const patientScopes = fhirClient(api, { sub: 'patient-app', roles: [] }, { roles: undefined, scope: 'patient/*.rs' });
    assert.equal((await patientScopes('/Patient?identifier=x')).status, 403);
  });
});

describe('FHIR import: time', () => {
  // PGlite runs an interactive transaction to its end whatever its timeout; PostgreSQL's driver ends it.
  const skip = process.env.DATABASE_URL ? false : 'the embedded database (PGlite) does not end a transaction at its timeout: PostgreSQL only';
  it('answers a transaction that outlasts FHIR_IMPORT_TIMEOUT_MS with 503, and stores nothing', { skip }, async () => {
    const hurried = await startTestServer({ FHIR_MRN_SYSTEM: hospitalMrnSystem, FHIR_IMPORT_TIMEOUT_MS: '1000' });
    const query = <T>(sql: string) => hurried.server.db.prisma.$queryRawUnsafe<T[]>(sql);
    const response = await fhirClient(hurried, interfaceEngine)('', { body: ehrBundle('SLOW', 125) });
    assert.equal(response.status, 503, JSON.stringify(response.body).slice(0, 300));
    assert.equal(response.body.resourceType, 'OperationOutcome');
    assert.equal(response.body.issue[0].code, 'timeout');
    assert.match(response.body.issue[0].diagnostics, /FHIR_IMPORT_TIMEOUT_MS/);
    const [stored] = await query<{ n: number }>(`SELECT count(*)::int AS n FROM "Patient"`);
    assert.equal(stored!.n, 0);
  });
});
