import assert from 'node:assert/strict';
import type { TestServer } from './test-server.ts';

let sequence = 0;

/** Creates a patient through the API and returns its id. */
export async function createPatient(api: TestServer, overrides: Record<string, unknown> = {}, headers?: Record<string, string>): Promise<string> {
  const response = await api.gql(
    `mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }`,
    {
      input: {
        mrn: `FX-${process.pid}-${++sequence}`,
        givenName: 'Fixture',
        familyName: 'Patient',
        birthDate: '1980-06-15',
        sex: 'UNKNOWN',
        ...overrides,
      },
    },
    headers,
  );
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  return response.body.data!.createPatient.id;
}

/** Opens a case for a patient through the API and returns its id. */
export async function openCase(api: TestServer, patientId: string, title = 'Fixture case', headers?: Record<string, string>): Promise<string> {
  const response = await api.gql(
    `mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }`,
    { input: { patientId, title } },
    headers,
  );
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  return response.body.data!.openCase.id;
}
