import type { Scope } from '../access/scope.ts';
import type { RawRecord } from '../pipeline/index.ts';

/** Training data taken from the platform's own cases. */
export class TrainingDataRepository {
  constructor(private readonly scope: Scope) {}

  /**
   * Collects training rows from the platform: one row per case with a recorded
   * outcome for the target, holding the latest value of each observation code,
   * the patient's age at the case's opening and administrative sex (so the
   * evaluation can report subgroups), and the outcome. De-identified: no ids,
   * names, dates or free text leave the database in these rows; the patients
   * whose data was used are named in the audit log. Patients who withdrew
   * consent to automated analysis are left out.
   */
  async collect(target: string): Promise<RawRecord[]> {
    const { access, prisma, trail } = this.scope;
    access.require('clinical.deidentified', 'training.collect');
    const outcomes = await prisma.caseOutcome.findMany({
      where: { target, case: { patient: { aiConsent: 'GRANTED' } } },
      select: {
        label: true,
        value: true,
        patientId: true,
        case: {
          select: {
            openedAt: true,
            patient: { select: { birthDate: true, sex: true } },
            observations: { select: { code: true, value: true, observedAt: true }, where: { value: { not: null } }, orderBy: { observedAt: 'asc' } },
          },
        },
      },
    });
    trail.note({ action: 'training.collect', resourceType: 'CaseOutcome', patientIds: [...new Set(outcomes.map((row) => row.patientId))], reason: target });
    return outcomes.map(({ label, value, case: episode }) => {
      const record: RawRecord = {};
      // Later observations of a code overwrite earlier ones: the latest value counts.
      for (const observation of episode.observations) record[observation.code] = observation.value;
      const ageMs = episode.openedAt.getTime() - episode.patient.birthDate.getTime();
      record.age = Math.floor(ageMs / (365.25 * 24 * 3600 * 1000));
      record.sex = episode.patient.sex.toLowerCase();
      record[target] = label ?? value;
      return record;
    });
  }
}
