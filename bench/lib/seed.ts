import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../src/generated/prisma/client.ts';
import { datasetsDir, defaultModel, readCsvFile, readShippedModel, recordAt } from '../../src/pipeline/index.ts';
import { gql } from './load.ts';

type ModelName = 'breast-cancer' | 'diabetes-progression';
export interface ObservationRow {
  code: string;
  value: number;
  unit: string | null;
}

/** Observations (code, value, unit) of rows of a shipped data set, as the default model expects them (cf. test/support/fixtures.ts). */
async function modelRows(model: ModelName): Promise<(row: number) => ObservationRow[]> {
  const { result } = await readShippedModel(model);
  const dataset = await readCsvFile(`${datasetsDir}/${defaultModel(model).dataset}`);
  return (row) => {
    const values = recordAt(dataset, row % dataset.rowCount);
    return result.features.map((feature) => ({ code: feature.name, value: Number(values[feature.name]), unit: feature.unit }));
  };
}

export interface ReadTokens {
  admin: string;
  clinician: string;
  clinicianSubject: string;
}

/**
 * The read benchmark's patient, made through the API as an admin (record,
 * care team) and the clinician (cases, observations, predictions): 10 cases;
 * 8 have the diabetes model's 10 observations and 1 or 2 predictions of it,
 * 2 have the breast-cancer model's 30 observations and a prediction with
 * class probabilities (explanations on, as by default). 140 observations and
 * 14 predictions in all.
 * @returns the patient id
 */
export async function seedReadPatient(url: string, tokens: ReadTokens, mrn: string): Promise<string> {
  const diabetes = await modelRows('diabetes-progression');
  const breast = await modelRows('breast-cancer');
  const { createPatient } = await gql(url, tokens.admin, 'mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }', {
    input: { mrn, givenName: 'Bench', familyName: 'Reader', birthDate: '1968-04-12', sex: 'FEMALE' },
  });
  const patientId = createPatient.id as string;
  await gql(url, tokens.admin, 'mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }', {
    id: patientId,
    sub: tokens.clinicianSubject,
  });
  for (let i = 0; i < 10; i++) {
    const model: ModelName = i < 8 ? 'diabetes-progression' : 'breast-cancer';
    const { openCase } = await gql(url, tokens.clinician, 'mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }', {
      input: { patientId, title: `Benchmark case ${i + 1}` },
    });
    await gql(url, tokens.clinician, 'mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }', {
      id: openCase.id,
      o: model === 'breast-cancer' ? breast(i) : diabetes(i),
    });
    const predictions = model === 'diabetes-progression' && i % 2 === 0 ? 2 : 1;
    for (let p = 0; p < predictions; p++) {
      await gql(url, tokens.clinician, 'mutation($id: ID!, $m: String!) { predict(caseId: $id, model: $m) { id } }', { id: openCase.id, m: model });
    }
  }
  return patientId;
}

/**
 * Prediction-ready cases for the predict benchmark, written with Prisma
 * directly (much faster than through the API): `count` patients, each with
 * the clinician on the care team and one open case holding the 30
 * breast-cancer observations of a different row of the data set.
 * @returns the case ids
 */
export async function seedPredictionCases(databaseUrl: string, clinicianSubject: string, count: number): Promise<string[]> {
  const breast = await modelRows('breast-cancer');
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 2 }) });
  try {
    const createdAt = new Date();
    const patients = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      createdAt,
      mrn: `BENCH-PRED-${String(i).padStart(5, '0')}`,
      givenName: 'Bench',
      familyName: `Predictor ${i}`,
      birthDate: new Date(Date.UTC(1950 + (i % 40), i % 12, 1 + (i % 28))),
      sex: 'FEMALE' as const,
    }));
    const cases = patients.map((patient, i) => ({ id: randomUUID(), patientId: patient.id, title: `Breast lump ${i}` }));
    await prisma.patient.createMany({ data: patients });
    await prisma.careTeamMember.createMany({ data: patients.map((p) => ({ patientId: p.id, patientCreatedAt: p.createdAt, clinicianSubject, addedBy: 'bench' })) });
    await prisma.case.createMany({ data: cases });
    await prisma.observation.createMany({ data: cases.flatMap((c, i) => breast(i).map((o) => ({ ...o, caseId: c.id }))) });
    return cases.map((c) => c.id);
  } finally {
    await prisma.$disconnect();
  }
}
