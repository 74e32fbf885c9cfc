import { auditedTransaction } from '../audit/audited-transaction.ts';
import type { ConsentRecord, ConsentStatus, Patient } from '../generated/prisma/client.ts';
import type { RequestScope } from '../server/request-scope.ts';

/** Consent choices about AI analysis: the current one on the patient, the history beside it. */
export class ConsentRepository {
  constructor(private readonly scope: RequestScope) {}

  async history(patientId: string): Promise<ConsentRecord[]> {
    await this.scope.access.requirePatients('patient.read', 'consent.read', [patientId]);
    return this.scope.prisma.consentRecord.findMany({ where: { patientId }, orderBy: { recordedAt: 'desc' } });
  }

  async record(patientId: string, status: ConsentStatus, note: string | null): Promise<Patient> {
    const breakGlass = await this.scope.access.requirePatients('consent.record', 'consent.record', [patientId]);
    const recordedAt = new Date();
    return auditedTransaction(
      this.scope,
      async (tx) => {
        await tx.consentRecord.create({ data: { patientId, status, note, recordedBy: this.scope.access.subject, recordedAt } });
        return tx.patient.update({ where: { id: patientId }, data: { aiConsent: status, aiConsentUpdatedAt: recordedAt } });
      },
      () => [
        {
          action: 'consent.record',
          outcome: 'SUCCESS',
          resourceType: 'Patient',
          resourceIds: [patientId],
          patientIds: [patientId],
          reason: status,
          breakGlass: breakGlass.has(patientId),
        },
      ],
    );
  }
}
