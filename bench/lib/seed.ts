import { datasetsDir, defaultModel, type RawRecord, readCsvFile, readShippedModel, recordAt } from '../../src/pipeline/index.ts';
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
    await addObservations(url, tokens, openCase.id, model === 'breast-cancer' ? breast(i) : diabetes(i));
    const predictions = model === 'diabetes-progression' && i % 2 === 0 ? 2 : 1;
    for (let p = 0; p < predictions; p++) {
      await gql(url, tokens.clinician, 'mutation($id: ID!, $m: String!) { predict(caseId: $id, model: $m) { id } }', { id: openCase.id, m: model });
    }
  }
  return patientId;
}

/**
 * Prediction-ready cases for the predict and ledger benchmarks, made through
 * the API (so any checkout of the project, whatever its schema, seeds its own
 * database the same way): `count` patients, each with the clinician on the
 * care team and one open case holding the 30 breast-cancer observations of a
 * different row of the data set.
 * @returns the case ids
 */
export async function seedPredictionCases(url: string, tokens: ReadTokens, count: number): Promise<string[]> {
  const breast = await modelRows('breast-cancer');
  return seedCases(url, tokens, count, 'Breast lump', (caseId, i) => addObservations(url, tokens, caseId, breast(i)));
}

/**
 * Cases for the digits model (a CNN on 8x8 images), made through the API like
 * seedPredictionCases: each holds the image of a different row of digits.csv.
 * @returns the case ids
 */
export async function seedImageCases(url: string, tokens: ReadTokens, count: number): Promise<string[]> {
  const { result } = await readShippedModel('digits');
  const { width, height } = result.image!;
  const dataset = await readCsvFile(`${datasetsDir}/${defaultModel('digits').dataset}`);
  const pixelsOf = (i: number) => {
    const values = recordAt(dataset, i % dataset.rowCount);
    return Array.from({ length: width * height }, (_, k) => Number(values[`px${k}`]));
  };
  return seedCases(url, tokens, count, 'Digit', (caseId, i) =>
    gql(url, tokens.clinician, 'mutation($id: ID!, $image: CaseImageInput!) { addCaseImage(caseId: $id, image: $image) { id } }', {
      id: caseId,
      image: { code: 'digit-scan', width, height, pixels: pixelsOf(i) },
    }),
  );
}

/** Visits of pbcseq a sequence case holds: the patient's first ones (fewer when the patient had fewer). */
const visitsPerSequenceCase = 4;

/**
 * Cases for the sequence model pbc-mortality (a GRU over a patient's visits),
 * made through the API like seedPredictionCases: case i holds the first
 * visits of pbcseq's patient i (cycling), each measured feature an
 * observation dated on its visit's day, as a clinician records them.
 * @returns the case ids
 */
export async function seedSequenceCases(url: string, tokens: ReadTokens, count: number): Promise<string[]> {
  const { result } = await readShippedModel('pbc-mortality');
  const dataset = await readCsvFile(`${datasetsDir}/${defaultModel('pbc-mortality').dataset}`);
  const patients = new Map<unknown, RawRecord[]>();
  for (let row = 0; row < dataset.rowCount; row++) {
    const visit = recordAt(dataset, row);
    patients.set(visit.id, [...(patients.get(visit.id) ?? []), visit]);
  }
  const histories = [...patients.values()];
  const enrolment = Date.UTC(2015, 0, 1);
  const observationsOf = (i: number) =>
    histories[i % histories.length]!.slice(0, visitsPerSequenceCase).flatMap((visit) => {
      const observedAt = new Date(enrolment + Number(visit.day) * 86_400_000).toISOString();
      return result.features.flatMap((feature) => {
        const value = visit[feature.name];
        if (value === null || value === undefined) return [];
        return [feature.kind === 'numeric' ? { code: feature.name, value: Number(value), unit: feature.unit, observedAt } : { code: feature.name, text: String(value), observedAt }];
      });
    });
  return seedCases(url, tokens, count, 'PBC follow-up', (caseId, i) => addObservations(url, tokens, caseId, observationsOf(i)));
}

/** Adds observations to a case as the clinician. */
function addObservations(url: string, tokens: ReadTokens, caseId: string, observations: object[]) {
  return gql(url, tokens.clinician, 'mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }', { id: caseId, o: observations });
}

/** `count` patients with the clinician on the care team and one open case each, filled by `fill`; eight patients at a time. */
async function seedCases(url: string, tokens: ReadTokens, count: number, title: string, fill: (caseId: string, i: number) => Promise<unknown>): Promise<string[]> {
  const seedCase = async (i: number): Promise<string> => {
    const birthDate = `${1950 + (i % 40)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
    const { createPatient } = await gql(url, tokens.admin, 'mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }', {
      input: { mrn: `BENCH-${title.toUpperCase().replace(/\W/g, '')}-${String(i).padStart(5, '0')}`, givenName: 'Bench', familyName: `${title} ${i}`, birthDate, sex: 'FEMALE' },
    });
    await gql(url, tokens.admin, 'mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }', {
      id: createPatient.id,
      sub: tokens.clinicianSubject,
    });
    const { openCase } = await gql(url, tokens.clinician, 'mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }', {
      input: { patientId: createPatient.id, title: `${title} ${i}` },
    });
    await fill(openCase.id, i);
    return openCase.id as string;
  };
  const caseIds: string[] = [];
  for (let first = 0; first < count; first += 8) {
    caseIds.push(...(await Promise.all(Array.from({ length: Math.min(8, count - first) }, (_, k) => seedCase(first + k)))));
  }
  return caseIds;
}
