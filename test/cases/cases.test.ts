import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditEvents, entityOf } from '../support/audit.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer();
const clinician = api.as(people.clinician);
const admin = api.as(people.admin);

const addObservations = `mutation($caseId: ID!, $observations: [ObservationInput!]!) {
  addObservations(caseId: $caseId, observations: $observations) { id code value text unit observedAt }
}`;
const readCase = `query($id: ID!) { case(id: $id) {
  id title status openedAt closedAt patient { id }
  observations { code value text unit }
  images { code width height pixels }
} }`;

async function observationCount(caseId: string) {
  return (await clinician.gql(readCase, { id: caseId })).body.data!.case.observations.length as number;
}

describe('cases and observations', () => {
  it('opens a case for a patient, records observations atomically and reads them back through the case and the patient', async () => {
    const patientId = await createPatient(api);
    const caseId = await openCase(api, patientId, 'Breast lump assessment');
    const added = await clinician.gql(addObservations, {
      caseId,
      observations: [
        { code: 'mean_radius', value: 14.2, unit: 'mm' },
        { code: 'smoking_status', text: 'former' },
        { code: 'heart_rate', value: 64, unit: '/min', observedAt: '2026-01-02T08:00:00Z' },
      ],
    });
    assert.equal(added.body.errors, undefined);
    assert.equal(added.body.data!.addObservations.length, 3);
    const read = await clinician.gql(readCase, { id: caseId });
    const episode = read.body.data!.case;
    assert.equal(episode.status, 'OPEN');
    assert.equal(episode.patient.id, patientId);
    assert.deepEqual(
      episode.observations.map((o: any) => [o.code, o.value, o.text, o.unit]).sort(),
      [['heart_rate', 64, null, '/min'], ['mean_radius', 14.2, null, 'mm'], ['smoking_status', null, 'former', null]],
    );
    const viaPatient = await clinician.gql(`query($id: ID!) { patient(id: $id) { cases { id title } } }`, { id: patientId });
    assert.deepEqual(viaPatient.body.data!.patient.cases, [{ id: caseId, title: 'Breast lump assessment' }]);
  });

  it('stores an image with its size and pixels', async () => {
    const caseId = await openCase(api, await createPatient(api));
    const pixels = Array.from({ length: 64 }, (_, i) => i % 17);
    const response = await clinician.gql(
      `mutation($caseId: ID!, $image: CaseImageInput!) { addCaseImage(caseId: $caseId, image: $image) { width height } }`,
      { caseId, image: { code: 'digit-scan', width: 8, height: 8, pixels } },
    );
    assert.deepEqual(response.body.data!.addCaseImage, { width: 8, height: 8 });
    const read = await clinician.gql(readCase, { id: caseId });
    assert.deepEqual(read.body.data!.case.images, [{ code: 'digit-scan', width: 8, height: 8, pixels }]);
  });

  it('closes a case once; a second close is a CONFLICT and new observations are refused', async () => {
    const caseId = await openCase(api, await createPatient(api));
    const closed = await clinician.gql(`mutation($id: ID!) { closeCase(id: $id) { status closedAt } }`, { id: caseId });
    assert.equal(closed.body.data!.closeCase.status, 'CLOSED');
    assert.ok(closed.body.data!.closeCase.closedAt);
    const again = await clinician.gql(`mutation($id: ID!) { closeCase(id: $id) { status } }`, { id: caseId });
    assert.deepEqual(errorCodes(again), ['CONFLICT']);
    const late = await clinician.gql(addObservations, { caseId, observations: [{ code: 'heart_rate', value: 70 }] });
    assert.deepEqual(errorCodes(late), ['CONFLICT']);
    assert.match(late.body.errors![0]!.message, /closed case/);
    assert.equal(await observationCount(caseId), 0);
  });
});

describe("a patient's detail", () => {
  const detail = `query Detail($id: ID!) { patient(id: $id) {
    familyName cases { id title status openedAt observations { code value unit } predictions { id } }
  } }`;

  /** A patient with two cases, observations on both; returns its id and the case ids, newest first. */
  async function patientWithCases() {
    const patientId = await createPatient(api, { familyName: 'Detailed' });
    const older = await openCase(api, patientId, 'Older case');
    const newer = await openCase(api, patientId, 'Newer case');
    for (const [caseId, value] of [[older, 1], [newer, 2]] as const) {
      const added = await clinician.gql(addObservations, { caseId, observations: [{ code: 'heart_rate', value, unit: '/min' }, { code: 'glucose', value: value * 10 }] });
      assert.equal(added.body.errors, undefined);
    }
    return { patientId, caseIds: [newer, older] };
  }

  it('is read in one statement with its cases and their children (plus the audit append), audited as before', async () => {
    const { patientId, caseIds } = await patientWithCases();
    await clinician.gql(detail, { id: patientId }); // the audit log's group append warm
    let statements = 0;
    const stop = api.server.db.onQuery(() => statements++);
    const response = await clinician.gql(detail, { id: patientId });
    stop();
    assert.equal(response.body.errors, undefined);
    const { cases } = response.body.data!.patient;
    assert.deepEqual(cases.map((c: any) => c.id), caseIds, 'newest first');
    const values = (episode: any) => episode.observations.map((o: any) => `${o.code}=${o.value}`).sort();
    assert.deepEqual(cases.map(values), [['glucose=20', 'heart_rate=2'], ['glucose=10', 'heart_rate=1']]);
    assert.equal(statements, 2, 'the patient with its cases, observations and predictions; the audit append');
    // One record for the request, naming each kind it read.
    const [record] = await auditEvents(api, { actorSubject: people.clinician.sub }, 1);
    assert.deepEqual(record!.patientIds, [patientId]);
    assert.deepEqual(record!.entities.map((entity) => entity.action), ['patient.read', 'case.read', 'observation.read']);
    assert.deepEqual(new Set(entityOf(record!, 'case.read').resourceIds), new Set(caseIds));
    // The same cases as a list reads them in a statement of its own.
    const listed = await clinician.gql(`query { patients(first: 5, filter: { nameContains: "Detailed" }) { edges { node { id cases { id title status openedAt observations { code value unit } predictions { id } } } } } }`);
    assert.equal(listed.body.errors, undefined, JSON.stringify(listed.body.errors));
    const node = listed.body.data!.patients.edges.find((edge: any) => edge.node.id === patientId).node;
    assert.deepEqual(cases, node.cases);
  });

  it('gives each alias of its cases the children it selected', async () => {
    const { patientId, caseIds } = await patientWithCases();
    const response = await clinician.gql(`query($id: ID!) { patient(id: $id) { bare: cases { id } full: cases { id observations { code } } } }`, { id: patientId });
    assert.equal(response.body.errors, undefined);
    const { bare, full } = response.body.data!.patient;
    assert.deepEqual(bare, caseIds.map((id) => ({ id })));
    assert.deepEqual(full.map((c: any) => c.observations.length), [2, 2]);
  });

  it('reaches an admin without its cases: the patient, and the cases refused and the refusal audited', async () => {
    const { patientId } = await patientWithCases();
    const response = await admin.gql(detail, { id: patientId });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    assert.equal(response.body.data!.patient.familyName, 'Detailed');
    assert.equal(response.body.data!.patient.cases, null);
    const [denial] = await auditEvents(api, { actorSubject: people.admin.sub, outcome: 'DENIED' }, 1);
    assert.equal(denial!.action, 'case.read');
  });
});

describe('cases: bad input gets a coded error and changes nothing', () => {
  it('stores none of a batch when one observation is bad, and names the bad one', async () => {
    const caseId = await openCase(api, await createPatient(api));
    const cases = [
      [{ code: 'ok', value: 1 }, { code: 'both', value: 1, text: 'x' }],
      [{ code: 'ok', value: 1 }, { code: 'neither' }],
      [{ code: 'ok', value: 1 }, { code: '', value: 1 }],
      [{ code: 'ok', value: 1 }, { code: 'bad code!', value: 1 }],
      [{ code: 'ok', value: 1 }, { code: 'future', value: 1, observedAt: '2999-01-01T00:00:00Z' }],
      [{ code: 'ok', value: 1 }, { code: 'long', text: 'x'.repeat(1001) }],
    ];
    for (const observations of cases) {
      const response = await clinician.gql(addObservations, { caseId, observations });
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(observations));
      assert.match(response.body.errors![0]!.extensions!.field, /^observations\.1/);
    }
    assert.equal(await observationCount(caseId), 0);
  });

  it('refuses an empty list and one longer than the limit', async () => {
    const caseId = await openCase(api, await createPatient(api));
    assert.deepEqual(errorCodes(await clinician.gql(addObservations, { caseId, observations: [] })), ['BAD_USER_INPUT']);
    const tooMany = Array.from({ length: 501 }, () => ({ code: 'x', value: 1 }));
    assert.deepEqual(errorCodes(await clinician.gql(addObservations, { caseId, observations: tooMany })), ['BAD_USER_INPUT']);
    assert.equal(await observationCount(caseId), 0);
  });

  it('refuses a value of the wrong type before it reaches the resolver', async () => {
    const caseId = await openCase(api, await createPatient(api));
    const response = await clinician.gql(addObservations, { caseId, observations: [{ code: 'x', value: 'high' }] });
    assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT']);
  });

  it('refuses unknown, malformed and archived targets (to a clinician, unknown looks the same as not on the care team)', async () => {
    const unknownCase = await clinician.gql(addObservations, { caseId: '00000000-0000-4000-8000-000000000000', observations: [{ code: 'x', value: 1 }] });
    assert.deepEqual(errorCodes(unknownCase), ['FORBIDDEN']);
    const malformed = await clinician.gql(addObservations, { caseId: 'abc', observations: [{ code: 'x', value: 1 }] });
    assert.deepEqual(errorCodes(malformed), ['BAD_USER_INPUT']);
    const unknownPatient = await clinician.gql(`mutation { openCase(input: { patientId: "00000000-0000-4000-8000-000000000000", title: "x" }) { id } }`);
    assert.deepEqual(errorCodes(unknownPatient), ['FORBIDDEN']);
    const patientId = await createPatient(api);
    await admin.gql(`mutation($id: ID!) { archivePatient(id: $id) { id } }`, { id: patientId });
    const onArchived = await clinician.gql(`mutation($id: ID!) { openCase(input: { patientId: $id, title: "x" }) { id } }`, { id: patientId });
    assert.deepEqual(errorCodes(onArchived), ['CONFLICT']);
    const blankTitle = await clinician.gql(`mutation($id: ID!) { openCase(input: { patientId: $id, title: " " }) { id } }`, { id: await createPatient(api) });
    assert.deepEqual(errorCodes(blankTitle), ['BAD_USER_INPUT']);
  });

  it('refuses images whose pixels do not match their size, or that are too large', async () => {
    const caseId = await openCase(api, await createPatient(api));
    const addImage = `mutation($caseId: ID!, $image: CaseImageInput!) { addCaseImage(caseId: $caseId, image: $image) { id } }`;
    const wrongCount = await clinician.gql(addImage, { caseId, image: { code: 'scan', width: 8, height: 8, pixels: [1, 2, 3] } });
    assert.deepEqual(errorCodes(wrongCount), ['BAD_USER_INPUT']);
    assert.match(wrongCount.body.errors![0]!.message, /width x height/);
    const tooWide = await clinician.gql(addImage, { caseId, image: { code: 'scan', width: 65, height: 1, pixels: Array(65).fill(0) } });
    assert.deepEqual(errorCodes(tooWide), ['BAD_USER_INPUT']);
    const negative = await clinician.gql(addImage, { caseId, image: { code: 'scan', width: 1, height: 1, pixels: [-1] } });
    assert.deepEqual(errorCodes(negative), ['BAD_USER_INPUT']);
    const read = await clinician.gql(readCase, { id: caseId });
    assert.deepEqual(read.body.data!.case.images, []);
  });
});
