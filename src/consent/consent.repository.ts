import { patientOwner } from '../access/owned-record-store.ts';
import type { Scope } from '../access/scope.ts';
import type { ConsentRecord, ConsentStatus, Patient } from '../generated/prisma/client.ts';

export type { ConsentRecord, ConsentStatus };

/** Consent choices about AI analysis: the current one on the patient, the history beside it. */
export class ConsentRepository {
  constructor(private readonly scope: Scope) {}

  history(patientId: string): Promise<ConsentRecord[]> {
    return this.scope.records.read({ permission: 'patient.governance.read', action: 'consent.read', resourceType: 'Patient' }, patientOwner(patientId), () =>
      this.scope.prisma.consentRecord.findMany({ where: { patientId }, orderBy: { recordedAt: 'desc' } }),
    );
  }

  record(patientId: string, status: ConsentStatus, note: string | null): Promise<Patient> {
    const recordedAt = new Date();
    return this.scope.records.write(
      { permission: 'consent.record', action: 'consent.record', resourceType: 'Patient' },
      [patientOwner(patientId)],
      async (tx) => {
        await tx.consentRecord.create({ data: { patientId, status, note, recordedBy: this.scope.access.subject, recordedAt } });
        return tx.patient.update({ where: { id: patientId }, data: { aiConsent: status, aiConsentUpdatedAt: recordedAt } });
      },
      () => ({ resourceIds: [patientId], reason: status }),
    );
  }
}
