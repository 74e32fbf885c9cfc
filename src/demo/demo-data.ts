import type { PrismaClient } from '../generated/prisma/client.ts';

/*
 * Demo records for a first look at the API. Every person here is fictitious:
 * the names say so and the MRNs start with DEMO-.
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

/** The demo clinician (`npm run token -- --sub demo-clinician --role clinician`) cares for every demo patient. */
export const demoClinician = 'demo-clinician';

/**
 * Loads the demo patients, each with one open case and a few observations and
 * the demo clinician on the care team, into a database that has no patients yet.
 * @returns what was loaded, or undefined when the database already had patients
 */
export async function loadDemoData(prisma: PrismaClient): Promise<{ patients: number } | undefined> {
  return prisma.$transaction(async (tx) => {
    if ((await tx.patient.count()) > 0) return undefined;
    for (const patient of demoPatients) {
      await tx.patient.create({
        data: {
          ...patient,
          birthDate: new Date(`${patient.birthDate}T00:00:00Z`),
          careTeam: { create: { clinicianSubject: demoClinician, addedBy: 'demo-data' } },
          cases: {
            create: {
              title: 'Routine check-up (demo)',
              observations: { create: vitalSigns },
            },
          },
        },
      });
    }
    return { patients: demoPatients.length };
  });
}
