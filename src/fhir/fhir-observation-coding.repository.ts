import type { Coding } from '@medplum/fhirtypes';
import type { Scope } from '../access/scope.ts';

/** A stored observation row and the codings it was sent with. */
export interface SentCodings {
  observationId: string;
  codings: Coding[];
}

/**
 * The codings imported observations were sent with (LOINC and the sender's
 * local codes): a row keeps one code, a search may name any of them. Both
 * methods take rows the caller already reached through the case services,
 * which checked the access (the write that stored them, the read that found them).
 */
export class FhirObservationCodingRepository {
  constructor(private readonly scope: Scope) {}

  async keep(sent: SentCodings[]): Promise<void> {
    const data = sent.flatMap(({ observationId, codings }) => codings.flatMap(({ system, code }) => (system && code ? [{ observationId, system, code }] : [])));
    if (data.length) await this.scope.prisma.fhirObservationCoding.createMany({ data, skipDuplicates: true });
  }

  /** The codings each of these observations was sent with, by system and code (none for one entered through GraphQL). */
  async of(observationIds: string[]): Promise<Map<string, Coding[]>> {
    const rows = observationIds.length ? await this.scope.prisma.fhirObservationCoding.findMany({ where: { observationId: { in: observationIds } }, orderBy: [{ system: 'asc' }, { code: 'asc' }] }) : [];
    const byObservation = new Map<string, Coding[]>();
    for (const { observationId, system, code } of rows) byObservation.set(observationId, [...(byObservation.get(observationId) ?? []), { system, code }]);
    return byObservation;
  }
}
