import { recordingFailure } from '../access/audited-transaction.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import { codedError, ErrorCode } from '../errors/errors.ts';
import { boundedText, isId, parseId, parseInput } from '../graphql/validation.ts';
import type { Patient } from '../patients/patient.repository.ts';
import type { PatientService } from '../patients/patient.service.ts';
import type { ConsentRecord, ConsentRepository, ConsentStatus } from './consent.repository.ts';

const note = boundedText(500).nullish();

/** Patients' choices about automated analysis, and the check that predictions respect them. */
export class ConsentService {
  constructor(
    private readonly consents: ConsentRepository,
    private readonly patients: PatientService,
    private readonly trail: AuditTrail,
  ) {}

  history(patientId: string): Promise<ConsentRecord[]> {
    return this.consents.history(patientId);
  }

  record(patientId: string, status: ConsentStatus, text: string | null | undefined): Promise<Patient> {
    const ids = isId(patientId) ? [patientId] : [];
    return recordingFailure(this.trail, 'consent.record', { resourceType: 'Patient', resourceIds: ids, patientIds: ids }, async () => {
      const patient = await this.patients.requireActive(parseId(patientId, 'patientId'));
      return this.consents.record(patient.id, status, parseInput(note, text, 'note') ?? null);
    });
  }

  /**
   * Refuses automated analysis (a prediction, alone or in a cohort, or an
   * explanation) of a patient who withdrew consent; training from platform
   * data leaves their rows out where it reads them.
   * @throws CONSENT_REQUIRED
   */
  requireAiConsent(patient: Pick<Patient, 'id' | 'aiConsent'>): void {
    if (patient.aiConsent !== 'GRANTED') {
      throw codedError(
        ErrorCode.CONSENT_REQUIRED,
        'This patient has withdrawn consent to automated (AI) analysis of their data; no prediction or explanation can be made.',
        { patientId: patient.id },
      );
    }
  }
}
