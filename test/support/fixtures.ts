import assert from 'node:assert/strict';
import type { TestServer } from './test-server.ts';
import { type Identity, people } from './tokens.ts';

let sequence = 0;

/**
 * Creates a patient as an admin and puts the given clinicians on the care
 * team (by default the suite's main clinician); returns the patient's id.
 */
export async function createPatient(
  api: TestServer,
  overrides: Record<string, unknown> = {},
  careTeam: Identity[] = [people.clinician],
): Promise<string> {
  const admin = api.as(people.admin);
  const response = await admin.gql(`mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }`, {
    input: {
      mrn: `FX-${process.pid}-${++sequence}`,
      givenName: 'Fixture',
      familyName: 'Patient',
      birthDate: '1980-06-15',
      sex: 'UNKNOWN',
      ...overrides,
    },
  });
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  const id = response.body.data!.createPatient.id as string;
  for (const member of careTeam) {
    const added = await admin.gql(`mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }`, {
      id,
      sub: member.sub,
    });
    assert.equal(added.body.errors, undefined, JSON.stringify(added.body.errors));
  }
  return id;
}

/** Opens a case as a clinician on the patient's care team and returns its id. */
export async function openCase(api: TestServer, patientId: string, title = 'Fixture case', as: Identity = people.clinician): Promise<string> {
  const response = await api.as(as).gql(`mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }`, {
    input: { patientId, title },
  });
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  return response.body.data!.openCase.id;
}

/** Observations (code, value, unit) of one row of a shipped data set, as a default model expects them. */
export async function modelObservations(model: 'breast-cancer' | 'diabetes-progression', row: number) {
  const { readShippedModel, readCsvFile, recordAt, datasetsDir, defaultModel } = await import('../../src/pipeline/index.ts');
  const { result } = await readShippedModel(model);
  const dataset = await readCsvFile(`${datasetsDir}/${defaultModel(model).dataset}`);
  const values = recordAt(dataset, row);
  return result.features.map((feature) => ({ code: feature.name, value: Number(values[feature.name]), unit: feature.unit }));
}

/** Opens a case and records observations on it as the suite's clinician; returns the case id. */
export async function caseWithObservations(api: TestServer, observations: Record<string, unknown>[], patientId?: string): Promise<string> {
  const caseId = await openCase(api, patientId ?? (await createPatient(api)));
  const response = await api.as(people.clinician).gql(
    'mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }',
    { id: caseId, o: observations },
  );
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  return caseId;
}
