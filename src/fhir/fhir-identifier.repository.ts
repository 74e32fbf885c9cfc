import type { Action, Permission } from '../access/permissions.ts';
import { type Owner, patientOwner } from '../access/owned-record-store.ts';
import type { Scope } from '../access/scope.ts';
import { isId } from '../graphql/validation.ts';

/** A FHIR identifier (system|value) of an imported resource. */
export interface ResourceIdentifier {
  resourceType: string;
  system: string;
  value: string;
}

/** The record an identifier names. */
export interface IdentifiedRecord {
  targetId: string;
  patientId: string;
}

export const identifierKey = (id: ResourceIdentifier) => `${id.resourceType}|${id.system}|${id.value}`;

/**
 * Which record each imported identifier names, as one request may see and
 * write it: lookups reach only patients within the caller's reach for the
 * permission, and links are written by callers allowed the write.
 */
export class FhirIdentifierRepository {
  constructor(private readonly scope: Scope) {}

  /**
   * The records these identifiers name (by identifierKey).
   * @throws FORBIDDEN, audited, when a record found belongs to a patient out of reach
   */
  async find(permission: Permission, action: Action, identifiers: ResourceIdentifier[]): Promise<Map<string, IdentifiedRecord>> {
    const rows = identifiers.length
      ? await this.scope.prisma.fhirIdentifier.findMany({ where: { OR: identifiers.map(({ resourceType, system, value }) => ({ resourceType, system, value })) } })
      : [];
    await this.scope.records.requireOwners({ permission, action, resourceType: 'FhirIdentifier' }, uniqueOwners(rows));
    return new Map(rows.map((row) => [identifierKey(row), { targetId: row.targetId, patientId: row.patientId }]));
  }

  /** Records which record each identifier names (identifiers already known are left as they are). */
  async link(permission: Permission, action: Action, links: (ResourceIdentifier & IdentifiedRecord)[]): Promise<void> {
    if (links.length === 0) return;
    await this.scope.records.requireOwners({ permission, action, resourceType: 'FhirIdentifier' }, uniqueOwners(links));
    await this.scope.prisma.fhirIdentifier.createMany({
      data: links.map((link) => ({ ...link, createdBy: this.scope.access.subject })),
      skipDuplicates: true,
    });
  }

  /**
   * Records the caller among the importers of these patients (what an
   * integration's `imported` reach reads back), once it is checked to be
   * allowed the write that names them.
   * @returns whether every one of them exists (none is recorded for an id that names no patient)
   * @throws FORBIDDEN, audited, when a patient is out of the caller's reach for the write
   */
  async importedBy(permission: Permission, action: Action, patientIds: string[]): Promise<boolean> {
    const ids = [...new Set(patientIds)];
    if (!ids.every(isId)) return false;
    await this.scope.records.requireOwners({ permission, action, resourceType: 'Patient' }, ids.map(patientOwner));
    const [found] = await this.scope.prisma.$queryRaw<{ n: number }[]>`
      WITH found AS (SELECT id FROM "Patient" WHERE id = ANY(${ids}::uuid[])),
        added AS (INSERT INTO "PatientImporter" ("patientId", subject) SELECT id, ${this.scope.access.subject} FROM found ON CONFLICT DO NOTHING)
      SELECT count(*)::int AS n FROM found`;
    for (const id of ids) this.scope.access.forget(id);
    return found!.n === ids.length;
  }
}

/** The records' patients, once each, as owners to check. */
function uniqueOwners(records: { patientId: string }[]): Owner[] {
  return [...new Set(records.map((record) => record.patientId))].map(patientOwner);
}
