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

  /**
   * Collects a sequence model's visits from the platform: for each patient
   * with a case whose outcome for the target is recorded, one row per
   * calendar day (UTC) with numeric observations, across all the patient's
   * cases (as `predict` reads a sequence model's input), holding that day's
   * latest value of each code. A case's outcome labels the row of its last
   * observation day; other rows are history. De-identified: the patient
   * column holds a pseudonym numbered in this collection ("patient 1"), and
   * the time column days since the patient's first visit (no dates). Age and
   * sex are not added: a sequence prediction reads observations only.
   * Patients who withdrew consent to automated analysis are left out; those
   * used are named in the audit log.
   * @param columns the names of the patient and time columns (the sequence options' id and time)
   */
  async collectVisits(target: string, columns: { id: string; time: string }): Promise<RawRecord[]> {
    const { access, prisma, trail } = this.scope;
    access.require('clinical.deidentified', 'training.collect');
    const patients = await prisma.patient.findMany({
      where: { aiConsent: 'GRANTED', cases: { some: { outcomes: { some: { target } } } } },
      orderBy: { id: 'asc' },
      select: {
        id: true,
        cases: {
          select: {
            outcomes: { where: { target }, select: { label: true, value: true } },
            observations: { select: { code: true, value: true, observedAt: true }, where: { value: { not: null } }, orderBy: { observedAt: 'asc' } },
          },
        },
      },
    });
    trail.note({ action: 'training.collect', resourceType: 'CaseOutcome', patientIds: patients.map((patient) => patient.id), reason: target });
    return patients.flatMap((patient, k) => {
      const visits = new Map<number, RawRecord>();
      const visit = (day: number) => visits.get(day) ?? visits.set(day, {}).get(day)!;
      // In time order across the cases, so that a day's latest value of a code counts.
      const observations = patient.cases.flatMap((episode) => episode.observations).sort((a, b) => a.observedAt.getTime() - b.observedAt.getTime());
      for (const observation of observations) visit(dayOf(observation.observedAt))[observation.code] = observation.value;
      for (const episode of patient.cases) {
        const outcome = episode.outcomes[0];
        const last = episode.observations.at(-1);
        if (outcome && last) visit(dayOf(last.observedAt))[target] = outcome.label ?? outcome.value;
      }
      const days = [...visits.keys()].sort((a, b) => a - b);
      return days.map((day) => ({ ...visits.get(day), [columns.id]: `patient ${k + 1}`, [columns.time]: day - days[0]! }));
    });
  }
}

const dayMs = 86_400_000;
const dayOf = (at: Date) => Math.floor(at.getTime() / dayMs);
