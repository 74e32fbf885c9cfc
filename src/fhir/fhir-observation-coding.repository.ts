import type { Coding } from '@medplum/fhirtypes';
import type { Scope } from '../access/scope.ts';

/** A stored observation row, the codings it was sent with and, when its text came from a valueCodeableConcept, that value's coding. */
export interface SentCodings {
  observationId: string;
  codings: Coding[];
  valueCoding?: Coding;
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
    const values = sent.flatMap(({ observationId, valueCoding }) => (valueCoding?.system && valueCoding.code ? [{ observationId, system: valueCoding.system, code: valueCoding.code }] : []));
    if (values.length) await this.scope.prisma.fhirObservationValueCoding.createMany({ data: values, skipDuplicates: true });
  }

  /** The coding each of these observations' value was sent as (only those imported with a coded value). */
  async valueCodingsOf(observationIds: string[]): Promise<Map<string, Coding>> {
    const rows = observationIds.length ? await this.scope.prisma.fhirObservationValueCoding.findMany({ where: { observationId: { in: observationIds } } }) : [];
    return new Map(rows.map(({ observationId, system, code }) => [observationId, { system, code }]));
  }

  /** The codings each of these observations was sent with, by system and code (none for one entered through GraphQL). */
  async of(observationIds: string[]): Promise<Map<string, Coding[]>> {
    const rows = observationIds.length ? await this.scope.prisma.fhirObservationCoding.findMany({ where: { observationId: { in: observationIds } }, orderBy: [{ system: 'asc' }, { code: 'asc' }] }) : [];
    const byObservation = new Map<string, Coding[]>();
    for (const { observationId, system, code } of rows) byObservation.set(observationId, [...(byObservation.get(observationId) ?? []), { system, code }]);
    return byObservation;
  }
}
