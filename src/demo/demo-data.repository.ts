import path from 'node:path';
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import { datasetsDir, type DefaultModelName, defaultModel, readCsvFile, readShippedModel, recordAt } from '../pipeline/index.ts';

/*
 * Demo records for a first look at the API. Every person here is fictitious:
 * the names say so and the MRNs start with DEMO-. The measurements of the
 * prediction-ready cases are rows of the public data sets in datasets/ that
 * the default models held out of training (their test split).
 */
const demoPatients = [
  { mrn: 'DEMO-0001', givenName: 'Ada', familyName: 'Example', birthDate: '1961-07-14', sex: 'FEMALE' },
  { mrn: 'DEMO-0002', givenName: 'Ben', familyName: 'Sample', birthDate: '1948-02-03', sex: 'MALE' },
  { mrn: 'DEMO-0003', givenName: 'Cleo', familyName: 'Placeholder', birthDate: '1979-11-30', sex: 'FEMALE' },
  { mrn: 'DEMO-0004', givenName: 'Dev', familyName: 'Testcase', birthDate: '1990-05-21', sex: 'OTHER' },
  { mrn: 'DEMO-0005', givenName: 'Eli', familyName: 'Fictional', birthDate: '2001-09-09', sex: 'UNKNOWN' },
] as const;

const vitalSigns = [
  { code: 'body_weight', value: 71.5, unit: 'kg' },
  { code: 'heart_rate', value: 72, unit: '/min' },
  { code: 'systolic_bp', value: 128, unit: 'mm[Hg]' },
  { code: 'smoking_status', text: 'never' },
];

/** Which demo patient gets which held-out row of which default model (by position in the test split). */
const predictionCases: { mrn: string; model: DefaultModelName; testRow: number; title: string }[] = [
  { mrn: 'DEMO-0001', model: 'breast-cancer', testRow: 0, title: 'Breast lump: fine needle aspirate (demo)' },
  { mrn: 'DEMO-0003', model: 'breast-cancer', testRow: 1, title: 'Breast lump: fine needle aspirate (demo)' },
  { mrn: 'DEMO-0002', model: 'diabetes-progression', testRow: 0, title: 'Diabetes baseline visit (demo)' },
  { mrn: 'DEMO-0005', model: 'diabetes-progression', testRow: 1, title: 'Diabetes baseline visit (demo)' },
  { mrn: 'DEMO-0004', model: 'digits', testRow: 0, title: 'Digit scan (demo stand-in for an image model)' },
  { mrn: 'DEMO-0002', model: 'digits', testRow: 1, title: 'Digit scan (demo stand-in for an image model)' },
];

/** The demo clinician (`npm run token -- --sub demo-clinician --role clinician`) cares for every demo patient. */
export const demoClinician = 'demo-clinician';

/**
 * Loads the demo patients into a database that has no patients yet: each with
 * a routine check-up case and the demo clinician on the care team, and six
 * cases whose observations (or image) are complete inputs for the default
 * models, so `predict` works at once.
 * @returns what was loaded, or undefined when the database already had patients
 */
export async function loadDemoData(prisma: PrismaClient): Promise<{ patients: number; predictionCases: number } | undefined> {
  if ((await prisma.patient.count()) > 0) return undefined;
  const heldOut = await heldOutCases();
  return prisma.$transaction(
    async (tx) => {
      if ((await tx.patient.count()) > 0) return undefined;
      for (const patient of demoPatients) {
        const own = heldOut.filter((item) => item.mrn === patient.mrn).map(({ mrn: _mrn, ...episode }) => episode);
        await tx.patient.create({
          data: {
            ...patient,
            birthDate: new Date(`${patient.birthDate}T00:00:00Z`),
            careTeam: { create: { clinicianSubject: demoClinician, addedBy: 'demo-data' } },
            cases: { create: [{ title: 'Routine check-up (demo)', observations: { create: vitalSigns } }, ...own] },
          },
        });
      }
      return { patients: demoPatients.length, predictionCases: heldOut.length };
    },
    { timeout: 30_000 },
  );
}

type DemoCase = Prisma.CaseCreateWithoutPatientInput & { mrn: string };

/** The prediction-ready cases: held-out rows of each default model's data set as observations or an image. */
async function heldOutCases(): Promise<DemoCase[]> {
  const cases: DemoCase[] = [];
  for (const model of [...new Set(predictionCases.map((item) => item.model))]) {
    const { result } = await readShippedModel(model);
    const dataset = await readCsvFile(path.join(datasetsDir, defaultModel(model).dataset));
    for (const item of predictionCases.filter((entry) => entry.model === model)) {
      const row = recordAt(dataset, result.split.test[item.testRow]!);
      const episode: DemoCase = { mrn: item.mrn, title: item.title };
      if (result.image) {
        const { width, height } = result.image;
        episode.images = { create: { code: 'digit-scan', width, height, pixels: result.features.map((feature) => Number(row[feature.name])) } };
      } else {
        episode.observations = {
          create: result.features.map((feature) => ({ code: feature.name, value: Number(row[feature.name]), unit: feature.unit })),
        };
      }
      cases.push(episode);
    }
  }
  return cases;
}
