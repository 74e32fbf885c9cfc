import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { buildContractSdl } from '../../scripts/schema.ts';
import { contractPath } from '../../src/server/schema.ts';

it('schema.graphql is exactly what the domain schema parts build (run `npm run schema` after changing one)', async () => {
  assert.equal(await readFile(contractPath, 'utf8'), await buildContractSdl());
});

it('keeps the names front ends rely on', async () => {
  const sdl = await readFile(contractPath, 'utf8');
  for (const signature of [
    'createPatient(input: CreatePatientInput!): Patient',
    'patientByMrn(mrn: String!): Patient',
    'openCase(input: OpenCaseInput!): Case',
    'addObservations(caseId: ID!, observations: [ObservationInput!]!): [Observation!]',
  ]) {
    assert.ok(sdl.includes(signature), signature);
  }
});
