import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BundleEntry } from '@medplum/fhirtypes';
import { validate } from '../../src/fhir/validation.ts';
import { modelObservations } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';
import { ehrPatient, encounterEntry, hospitalMrnSystem, observationEntry, patientEntry } from './ehr-bundles.ts';
import { fhirClient, interfaceEngine } from './fhir-client.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true', FHIR_MRN_SYSTEM: hospitalMrnSystem });
const engine = fhirClient(api, interfaceEngine);
const clinician = fhirClient(api, people.clinician);
const outsider = fhirClient(api, people.otherClinician);
const raw = { query: <T>(sql: string, params: unknown[] = []) => api.server.db.prisma.$queryRawUnsafe<T[]>(sql, ...params) };

type VisitObservations = (key: string, patientUrl: string, visitUrl: string) => Promise<BundleEntry[]>;

/** A breast-cancer model's 30 features (local codes), over three days. */
const breastCancerFeatures: VisitObservations = async (key, patientUrl, visitUrl) =>
  (await modelObservations('breast-cancer', 0)).map((feature, i) =>
    observationEntry(patientUrl, visitUrl, `${key}-${feature.code}`, {
      code: { coding: [{ system: 'urn:clinigraph:feature', code: feature.code }] },
      valueQuantity: { value: feature.value },
      effectiveDateTime: `2026-03-0${1 + (i % 3)}T10:00:00Z`,
    }),
  );

/** Imports a patient with one visit carrying these observations (by default breastCancerFeatures), puts the suite's clinician on the care team. */
async function importedCase(key: string, visitObservations = breastCancerFeatures) {
  const person = patientEntry(ehrPatient(key, 0));
  const visit = encounterEntry(person.fullUrl!, `${key}-V`);
  const observations = await visitObservations(key, person.fullUrl!, visit.fullUrl!);
  const response = await engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [person, visit, ...observations] } });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const patientId = response.body.entry[0].response.location.split('/')[1] as string;
  const caseId = response.body.entry[1].response.location.split('/')[1] as string;
  const added = await api.as(people.admin).gql('mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }', { id: patientId, sub: people.clinician.sub });
  assert.equal(added.body.errors, undefined);
  return { patientId, caseId };
}

describe('FHIR reads and searches', () => {
  it('reads a patient on the care team, and answers 404 alike for one out of reach, one absent and a malformed id', async () => {
    const { patientId } = await importedCase('READ');
    const read = await clinician(`/Patient/${patientId}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.resourceType, 'Patient');
    assert.equal(read.body.name[0].family, ehrPatient('READ', 0).family);
    validate(read.body);
    const outOfReach = await outsider(`/Patient/${patientId}`);
    const absent = await outsider('/Patient/00000000-0000-4000-8000-000000000000');
    const malformed = await outsider('/Patient/not-an-id');
    for (const response of [outOfReach, absent, malformed]) {
      assert.equal(response.status, 404);
      assert.equal(response.body.resourceType, 'OperationOutcome');
    }
    assert.equal(outOfReach.body.issue[0].diagnostics.replace(patientId, 'ID'), absent.body.issue[0].diagnostics.replace('00000000-0000-4000-8000-000000000000', 'ID'));

    // The read is audited like a GraphQL read, naming the FHIR interaction; the refusal too.
    const [audited] = await raw.query<{ operationName: string }>(`SELECT "operationName" FROM "AuditEvent" WHERE action = 'patient.read' AND "actorSubject" = $1 AND $2 = ANY("patientIds") AND outcome = 'SUCCESS'`, [people.clinician.sub, patientId]);
    assert.equal(audited!.operationName, `FHIR GET /fhir/R4/Patient/${patientId}`);
    const [denied] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE "actorSubject" = $1 AND outcome = 'DENIED' AND $2 = ANY("patientIds")`, [people.otherClinician.sub, patientId]);
    assert.equal(denied!.n, 1);

    const byMrn = await clinician(`/Patient?identifier=${encodeURIComponent(`${hospitalMrnSystem}|${ehrPatient('READ', 0).mrn}`)}`);
    assert.equal(byMrn.body.total, 1);
    assert.equal(byMrn.body.entry[0].resource.id, patientId);
    const notForOutsider = await outsider(`/Patient?identifier=${encodeURIComponent(`${hospitalMrnSystem}|${ehrPatient('READ', 0).mrn}`)}`);
    assert.equal(notForOutsider.status, 200);
    assert.equal(notForOutsider.body.total, 0);
  });

  it('searches observations by patient, code and date, with _count and paging links', async () => {
    const { patientId, caseId } = await importedCase('SEARCH');
    const all = await clinician(`/Observation?patient=${patientId}&_count=100`);
    assert.equal(all.body.total, 30);
    const byCode = await clinician(`/Observation?patient=${patientId}&code=urn:clinigraph:feature|mean_radius`);
    assert.equal(byCode.body.total, 1);
    assert.equal(byCode.body.entry[0].resource.encounter.reference, `Encounter/${caseId}`);
    validate(byCode.body.entry[0].resource);
    const byDate = await clinician(`/Observation?patient=${patientId}&date=2026-03-02`);
    assert.equal(byDate.body.total, 10);
    const from = await clinician(`/Observation?patient=${patientId}&date=ge2026-03-02`);
    assert.equal(from.body.total, 20);
    const page = await clinician(`/Observation?patient=${patientId}&_count=12`);
    assert.equal(page.body.entry.length, 12);
    const next = page.body.link.find((l: any) => l.relation === 'next').url as string;
    const second = await clinician(next.slice(next.indexOf('/Observation')));
    assert.equal(second.body.entry.length, 12);
    assert.ok(second.body.link.some((l: any) => l.relation === 'previous'));
    const encounters = await clinician(`/Encounter?patient=${patientId}`);
    assert.equal(encounters.body.total, 1);
    assert.equal((await outsider(`/Observation?patient=${patientId}`)).body.total, 0);
    const badDate = await clinician(`/Observation?patient=${patientId}&date=yesterday`);
    assert.equal(badDate.status, 400);
    assert.deepEqual(badDate.body.issue[0].expression, ['date']);
  });

  it('finds an observation sent with LOINC and a local coding by either, and by nothing it was not sent with', async () => {
    const lab = 'http://hospital.example.org/fhir/CodeSystem/lab';
    const coded = (loinc: string, local: string, value: number, unit: string) => ({ code: { coding: [{ system: 'http://loinc.org', code: loinc }, { system: lab, code: local }] }, valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit } });
    // Glucose is a diabetes model feature (stored under it); creatinine is no model's (stored under its LOINC code).
    const { patientId } = await importedCase('LOINC', async (key, patientUrl, visitUrl) => [
      observationEntry(patientUrl, visitUrl, `${key}-GLU`, coded('2345-7', 'GLU', 101, 'mg/dL')),
      observationEntry(patientUrl, visitUrl, `${key}-CREA`, coded('2160-0', 'CREA', 0.9, 'mg/dL')),
    ]);
    const search = async (code: string) => (await clinician(`/Observation?patient=${patientId}&code=${encodeURIComponent(code)}`)).body;
    for (const [code, value] of [['2345-7', 101], ['2160-0', 0.9]] as const) {
      for (const query of [`http://loinc.org|${code}`, code]) {
        const found = await search(query);
        assert.equal(found.total, 1, query);
        assert.equal(found.entry[0].resource.valueQuantity.value, value, query);
        validate(found.entry[0].resource);
      }
    }
    assert.equal((await search(`${lab}|GLU`)).entry?.[0]?.resource.valueQuantity.value, 101);
    const creatinine = (await search(`${lab}|CREA`)).entry?.[0]?.resource;
    assert.equal(creatinine?.valueQuantity.value, 0.9);
    // It reads back with the codings it was sent with (by system).
    assert.deepEqual(creatinine.code.coding.slice(1), [{ system: lab, code: 'CREA' }, { system: 'http://loinc.org', code: '2160-0' }]);
    assert.deepEqual((await clinician(`/Observation/${creatinine.id}`)).body, creatinine);
    assert.equal((await search(`${lab}|GLU,${lab}|CREA`)).total, 2);
    // Codes it was not sent with: another LOINC code, a code under the wrong system, a local code of another lab.
    for (const absent of ['http://loinc.org|2093-3', 'http://loinc.org|GLU', `${lab}|2345-7`, 'http://other-lab.example.org|GLU']) assert.equal((await search(absent)).total, 0, absent);
  });

  it('reads an observation and an encounter by id, 404 alike out of reach and absent', async () => {
    const { patientId, caseId } = await importedCase('OBSREAD');
    const found = await clinician(`/Observation?patient=${patientId}&code=urn:clinigraph:feature|mean_radius`);
    const id = found.body.entry[0].resource.id as string;
    const read = await clinician(`/Observation/${id}`);
    assert.equal(read.status, 200);
    validate(read.body);
    assert.deepEqual(read.body, found.body.entry[0].resource);
    assert.equal(read.body.encounter.reference, `Encounter/${caseId}`);
    const absentId = '00000000-0000-4000-8000-000000000000';
    for (const [type, knownId] of [['Observation', id], ['Encounter', caseId], ['EpisodeOfCare', caseId]] as const) {
      if (type !== 'Observation') {
        const own = await clinician(`/${type}/${knownId}`);
        assert.equal(own.status, 200, type);
        validate(own.body);
        assert.equal(own.body.period.start, '2026-03-02T08:00:00.000Z');
      }
      const [outOfReach, absent] = [await outsider(`/${type}/${knownId}`), await outsider(`/${type}/${absentId}`)];
      assert.equal(outOfReach.status, 404, type);
      assert.equal(JSON.stringify(outOfReach.body).replaceAll(knownId, 'ID'), JSON.stringify(absent.body).replaceAll(absentId, 'ID'));
    }
    const [audited] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'observation.read' AND "resourceType" = 'Observation' AND $1 = ANY("resourceIds") AND outcome = 'SUCCESS'`, [id]);
    assert.equal(audited!.n, 1);
  });

  it('does what the CapabilityStatement lists, and nothing else', async () => {
    const { patientId } = await importedCase('CAPS');
    const metadata = await clinician('/metadata');
    const listed = new Map<string, string[]>(metadata.body.rest[0].resource.map((r: any) => [r.type, (r.interaction ?? []).map((i: any) => i.code)]));
    const searches: Record<string, string> = { Patient: `identifier=${ehrPatient('CAPS', 0).mrn}`, Encounter: `patient=${patientId}`, EpisodeOfCare: `patient=${patientId}`, Observation: `patient=${patientId}`, RiskAssessment: `subject=${patientId}`, Device: 'name=x' };
    for (const type of ['Patient', 'Encounter', 'EpisodeOfCare', 'Observation', 'RiskAssessment', 'Device', 'Condition']) {
      const interactions = listed.get(type) ?? [];
      const read = await clinician(`/${type}/00000000-0000-4000-8000-000000000000`);
      const search = await clinician(`/${type}?${searches[type] ?? 'patient=x'}`);
      const supported = (response: { status: number; body: any }) => response.status === 200 || (response.status === 404 && response.body.issue[0].code === 'not-found');
      assert.equal(supported(read), interactions.includes('read'), `${type} read: ${read.status} ${JSON.stringify(read.body)}`);
      assert.equal(supported(search), interactions.includes('search-type'), `${type} search: ${search.status} ${JSON.stringify(search.body)}`);
    }
  });

  it('matches imported observations to pbc-mortality\'s features by LOINC, converting units, so predict reads them (coverage)', async () => {
    // Visit 0 of pbcseq's patient 1, as a hepatology lab reports it: bilirubin in mg/L, albumin in g/L.
    const loinc = (code: string, value: number, unit: string) => ({ code: { coding: [{ system: 'http://loinc.org', code }] }, valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit } });
    const local = (code: string, value: number | string) => ({ code: { coding: [{ system: 'urn:clinigraph:feature', code }] }, ...(typeof value === 'number' ? { valueQuantity: { value } } : { valueString: value }) });
    const pbcVisit: VisitObservations = async (key, patientUrl, visitUrl) =>
      Object.entries({
        age: loinc('30525-0', 58.77, 'a'),
        sex: local('sex', 'f'),
        ascites: local('ascites', 1),
        hepato: local('hepato', 1),
        spiders: local('spiders', 1),
        edema: local('edema', 1),
        bili: loinc('1975-2', 145, 'mg/L'),
        chol: loinc('2093-3', 261, 'mg/dL'),
        albumin: loinc('1751-7', 26, 'g/L'),
        alkphos: loinc('6768-6', 1718, 'U/L'),
        ast: loinc('1920-8', 138, 'U/L'),
        platelet: loinc('777-3', 190, '10*3/uL'),
        protime: loinc('5902-2', 12.2, 's'),
        stage: local('stage', 4),
      }).map(([name, body]) => observationEntry(patientUrl, visitUrl, `${key}-${name}`, { ...body, effectiveDateTime: '2026-03-01T10:00:00Z' }));
    const { caseId } = await importedCase('PBC', pbcVisit);
    const predicted = await api.as(people.clinician).gql('mutation($id: ID!) { predict(caseId: $id, model: "pbc-mortality") { id input } }', { id: caseId });
    assert.equal(predicted.body.errors, undefined, JSON.stringify(predicted.body.errors));
    const input = predicted.body.data!.predict.input;
    // Converted to the model's units: bilirubin 14.5 mg/dL, albumin 2.6 g/dL.
    assert.equal(input.bili, 14.5);
    assert.equal(input.albumin, 2.6);
    assert.equal(input.platelet, 190);

    // A second visit, in a case of its own: pbc-mortality reads both, and the RiskAssessment's basis names both visits' observations
    // (the first visit's 13 of pbc-mortality's features: its cholesterol, LOINC 2093-3, was stored under diabetes-progression's s1_tc).
    const visit = encounterEntry(`Patient?identifier=${hospitalMrnSystem}|${ehrPatient('PBC', 0).mrn}`, 'PBC-V2');
    const later = [loinc('1975-2', 213, 'mg/L'), loinc('1751-7', 29.4, 'g/L')].map((body, i) =>
      observationEntry(`Patient?identifier=${hospitalMrnSystem}|${ehrPatient('PBC', 0).mrn}`, visit.fullUrl!, `PBC-2-${i}`, { ...body, effectiveDateTime: '2026-09-09T10:00:00Z' }),
    );
    const second = await engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: [visit, ...later] } });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const secondCase = second.body.entry[0].response.location.split('/')[1] as string;
    const repeated = await api.as(people.clinician).gql('mutation($id: ID!) { predict(caseId: $id, model: "pbc-mortality") { id } }', { id: secondCase });
    assert.equal(repeated.body.errors, undefined, JSON.stringify(repeated.body.errors));
    const risk = await clinician(`/RiskAssessment/${repeated.body.data!.predict.id}`);
    assert.equal(risk.status, 200);
    validate(risk.body);
    const basisCases = await raw.query<{ caseId: string; n: number }>(
      `SELECT "caseId", count(*)::int AS n FROM "Observation" WHERE id = ANY($1::uuid[]) GROUP BY "caseId"`,
      [risk.body.basis.map((b: any) => b.reference.split('/')[1])],
    );
    assert.deepEqual(new Map(basisCases.map((row) => [row.caseId, row.n])), new Map([[caseId, 13], [secondCase, 2]]));
    assert.deepEqual((await clinician(`/RiskAssessment?subject=Patient/${risk.body.subject.reference.split('/')[1]}`)).body.entry.find((e: any) => e.resource.id === risk.body.id).resource.basis, risk.body.basis);
  });

  it('reads a prediction back as a RiskAssessment naming the model version (a Device), which the FHIR validator accepts', async () => {
    const { patientId, caseId } = await importedCase('RISK');
    const predicted = await api.as(people.clinician).gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer") { id modelVersion { id version weightsSha256 } } }', { id: caseId });
    assert.equal(predicted.body.errors, undefined, JSON.stringify(predicted.body.errors));
    const { id, modelVersion } = predicted.body.data!.predict;
    const search = await clinician(`/RiskAssessment?subject=Patient/${patientId}`);
    assert.equal(search.body.total, 1);
    const risk = search.body.entry[0].resource;
    validate(risk);
    assert.equal(risk.id, id);
    assert.equal(risk.subject.reference, `Patient/${patientId}`);
    assert.equal(risk.encounter.reference, `Encounter/${caseId}`);
    assert.equal(risk.performer.reference, `Device/${modelVersion.id}`);
    assert.equal(risk.method.coding[0].code, 'breast-cancer');
    assert.equal(risk.basis.length, 30);
    const probabilities = risk.prediction.map((p: any) => p.probabilityDecimal);
    assert.ok(Math.abs(probabilities.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-6);
    assert.equal(risk.extension.length, 5);
    assert.ok(risk.extension.every((e: any) => e.url === 'urn:clinigraph:fhir:StructureDefinition:explanation-feature'));
    assert.deepEqual((await clinician(`/RiskAssessment/${id}`)).body, risk);

    const device = await clinician(`/Device/${modelVersion.id}`);
    assert.equal(device.status, 200);
    validate(device.body);
    assert.equal(device.body.deviceName[0].name, 'breast-cancer');
    assert.equal(device.body.version[0].value, String(modelVersion.version));
    assert.equal(device.body.identifier[0].value, modelVersion.weightsSha256);

    // The interface engine that imported the patient reads no predictions.
    for (const path of [`/RiskAssessment/${id}`, `/RiskAssessment?subject=Patient/${patientId}`]) assert.equal((await engine(path)).status, 403, path);
    const viaGraphql = await api.as(interfaceEngine).gql('query($id: ID!) { case(id: $id) { predictions { id } } }', { id: caseId });
    assert.equal(viaGraphql.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.equal((await outsider(`/RiskAssessment/${id}`)).status, 404);
    assert.equal((await outsider(`/RiskAssessment?subject=Patient/${patientId}`)).body.total, 0);
  });

  it('takes repeated date (a range) and code parameters as FHIR search does, and answers malformed ones 400 naming them, never 500', async () => {
    const { patientId } = await importedCase('RANGE');
    const search = (query: string) => clinician(`/Observation?patient=${patientId}&${query}`);
    // 30 features over three days, ten a day.
    assert.equal((await search('date=ge2026-03-02&date=le2026-03-03')).body.total, 20);
    assert.equal((await search('date=ge2026-03-02&date=lt2026-03-03')).body.total, 10);
    const [a, b, c] = (await modelObservations('breast-cancer', 0)).map((feature) => feature.code);
    // A comma list is any of its codes; repeated parameters must all hold.
    assert.equal((await search(`code=${a},${b}`)).body.total, 2);
    const both = await search(`code=${a},${b}&code=${b},${c}`);
    assert.equal(both.status, 200);
    assert.deepEqual(both.body.entry.map((e: any) => e.resource.code.coding.some((coding: any) => coding.code === b)), [true]);
    assert.equal((await search(`code=${a}&code=${b}`)).body.total, 0);
    const malformed: [string, string][] = [
      ['date=2026-13-45', 'date'],
      ['date=ge2026-01-01&date=soon', 'date'],
      ['code=', 'code'],
      [`code=${a}&code=urn:clinigraph:feature|`, 'code'],
      [`patient=${patientId}`, 'patient'],
      ['_count=5&_count=10', '_count'],
    ];
    for (const [query, parameter] of malformed) {
      const response = await search(query);
      assert.equal(response.status, 400, query);
      assert.equal(response.body.resourceType, 'OperationOutcome');
      assert.deepEqual(response.body.issue[0].expression, [parameter], query);
    }
  });

  it('narrows a clinician by the SMART scopes the token carries', async () => {
    const { patientId } = await importedCase('SCOPE');
    const patientsOnly = fhirClient(api, people.clinician, { scope: 'user/Patient.rs' });
    assert.equal((await patientsOnly(`/Patient/${patientId}`)).status, 200);
    const refused = await patientsOnly(`/Observation?patient=${patientId}`);
    assert.equal(refused.status, 403);
    const scopeOnly = fhirClient(api, { sub: people.clinician.sub, roles: [] }, { roles: undefined, scope: 'user/*.rs' });
    assert.equal((await scopeOnly(`/Observation?patient=${patientId}`)).body.total, 30);
  });

  it('confines patient/ scopes to the token\'s launch patient: another patient of the same care team reads as absent, and no claim is refused', async () => {
    const mine = await importedCase('LAUNCH');
    const other = await importedCase('NEIGHBOUR');
    const launched = fhirClient(api, people.clinician, { scope: 'patient/Patient.rs patient/Observation.rs patient/Encounter.rs', patient: mine.patientId });
    assert.equal((await launched(`/Patient/${mine.patientId}`)).status, 200);
    assert.equal((await launched(`/Observation?patient=${mine.patientId}`)).body.total, 30);
    const [observation] = await raw.query<{ id: string }>(`SELECT id FROM "Observation" WHERE "caseId" = $1::uuid LIMIT 1`, [other.caseId]);
    // The care team reaches the neighbour, the launch context does not: absent, as one out of reach.
    for (const path of [`/Patient/${other.patientId}`, `/Encounter/${other.caseId}`, `/Observation/${observation!.id}`]) {
      const response = await launched(path);
      assert.equal(response.status, 404, path);
      assert.equal(response.body.resourceType, 'OperationOutcome');
    }
    for (const path of [`/Observation?patient=${other.patientId}`, `/Encounter?patient=${other.patientId}`, `/Patient?identifier=${hospitalMrnSystem}|${ehrPatient('NEIGHBOUR', 0).mrn}`]) {
      const response = await launched(path);
      assert.equal(response.status, 200, path);
      assert.equal(response.body.total, 0, path);
    }
    const [denials] = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE outcome = 'DENIED' AND reason = 'outside-launch-context' AND $1 = ANY("patientIds"::text[])`, [other.patientId]);
    assert.ok(denials!.n >= 3);
    // Without the patient claim, patient/ scopes reach no one.
    const noLaunch = await fhirClient(api, people.clinician, { scope: 'patient/Patient.rs' })(`/Patient/${mine.patientId}`);
    assert.equal(noLaunch.status, 403);
    assert.match(noLaunch.body.issue[0].diagnostics, /patient claim/);
    // A user/ scope beside them reaches the care team again for its type only.
    const mixed = fhirClient(api, people.clinician, { scope: 'patient/Observation.rs user/Patient.rs', patient: mine.patientId });
    assert.equal((await mixed(`/Patient/${other.patientId}`)).status, 200);
    assert.equal((await mixed(`/Observation?patient=${other.patientId}`)).body.total, 0);
    // A patient id that is not one counts as no claim: refused as such, not a database error.
    const badClaim = await fhirClient(api, people.clinician, { scope: 'patient/Patient.rs', patient: 'MRN-12' })(`/Patient?identifier=${hospitalMrnSystem}|${ehrPatient('LAUNCH', 0).mrn}`);
    assert.equal(badClaim.status, 403);
  });

  it('confines a token of patient/ scopes alone to its launch patient on GraphQL too, which has no scopes of its own', async () => {
    const mine = await importedCase('GQLLAUNCH');
    const other = await importedCase('GQLNEIGHBOUR');
    const asToken = async (claims: Record<string, unknown>, query: string) =>
      (await api.gql(query, {}, { authorization: `Bearer ${await signToken(people.clinician, { claims })}` })).body as { data: any; errors?: unknown[] };
    const launched = { scope: 'patient/*.rs', patient: mine.patientId };
    assert.equal((await asToken(launched, `{ patient(id: "${mine.patientId}") { id } }`)).data.patient.id, mine.patientId);
    const neighbour = await asToken(launched, `{ patient(id: "${other.patientId}") { id } }`);
    assert.equal(neighbour.data?.patient ?? null, null);
    assert.ok((neighbour.errors ?? []).length > 0, 'out of reach, as an absent patient');
    const list = await asToken(launched, '{ patients(first: 100) { totalCount edges { node { id } } } }');
    assert.deepEqual(list.data.patients.edges.map((edge: any) => edge.node.id), [mine.patientId]);
    // Without a launch patient such a token reaches no one; the same clinician's user/ token reaches the care team.
    const noLaunch = await asToken({ scope: 'patient/*.rs' }, '{ patients(first: 100) { totalCount } }');
    assert.equal(noLaunch.data.patients.totalCount, 0);
    const user = await asToken({ scope: 'user/*.rs' }, '{ patients(first: 100) { totalCount } }');
    assert.ok(user.data.patients.totalCount >= 2);
  });
});
