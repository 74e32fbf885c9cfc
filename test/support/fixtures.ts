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
