import type { Action, Permission } from '../access/permissions.ts';
import { type Owner, patientOwner } from '../access/owned-record-store.ts';
import type { Scope } from '../access/scope.ts';

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
}

/** The records' patients, once each, as owners to check. */
function uniqueOwners(records: { patientId: string }[]): Owner[] {
  return [...new Set(records.map((record) => record.patientId))].map(patientOwner);
}
