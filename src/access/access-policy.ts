import DataLoader from 'dataloader';
import { codedError, ErrorCode } from '../errors/errors.ts';
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import type { AuditTrail } from './audit-trail.ts';
import { type Action, type Permission, permissionTable, type Reach } from './permissions.ts';
import type { Principal, Role } from './principal.ts';

/** What ties this request's subject to one patient, whatever the permission. */
interface PatientTies {
  onTeam: boolean;
  breakGlass: boolean;
  /** The subject's FHIR imports created or matched the patient. */
  imported: boolean;
}

/** How a permission's reaches reach one patient: plainly, only through break-glass (flagged), or not at all. */
type PatientAccess = 'reached' | 'break-glass' | 'none';

const forbidden = (message: string) => codedError(ErrorCode.FORBIDDEN, message);

/**
 * The one answer for a patient (or a case, or anything of a patient) out of
 * reach, whether it exists or not, so the answer reveals nothing.
 */
export const outOfReach = () =>
  forbidden('This is not on your care team, or does not exist. Ask an admin to add you, or use break-glass access in an emergency.');

/**
 * Access control for one request, built from the verified principal and used
 * by every repository before it reads or writes, so no resolver can forget a
 * check. Denials are recorded in the request's audit trail before the
 * FORBIDDEN error is thrown. A clinician gets the same FORBIDDEN for a
 * patient outside their care team as for one that does not exist, so errors
 * reveal nothing about other patients.
 */
export class AccessPolicy {
  private readonly ties: DataLoader<string, PatientTies>;

  constructor(
    private readonly prisma: PrismaClient,
    readonly principal: Principal,
    private readonly trail: AuditTrail,
  ) {
    this.ties = new DataLoader((patientIds) => this.lookUpTies(patientIds));
  }

  get subject(): string {
    return this.principal.subject;
  }

  /** The widest reach any of the principal's roles gives for a permission, if any (a narrow one when no role reaches all). */
  reach(permission: Permission): Reach | undefined {
    const reaches = this.reaches(permission);
    return reaches.includes('all') ? 'all' : reaches[0];
  }

  /** Every reach the principal's roles give for a permission (a clinician who is also an integration reaches both ways). */
  private reaches(permission: Permission): Reach[] {
    const rule: Partial<Record<Role, Reach>> = permissionTable[permission];
    return [...new Set(this.principal.roles.map((role) => rule[role]).filter((value) => value !== undefined))];
  }

  /** Checks the role only (for operations on no particular patient). */
  require(permission: Permission, action: Action): void {
    if (!this.reach(permission)) {
      this.trail.denied(action, 'role');
      throw forbidden(`Your role does not allow ${action}.`);
    }
  }

  /**
   * Checks that every given patient is within reach.
   * @returns the ids reached only through break-glass (their audit records are flagged)
   * @throws FORBIDDEN, after recording the denial, when any patient is out of reach
   */
  async requirePatients(permission: Permission, action: Action, patientIds: string[], resourceType = 'Patient', resourceIds = patientIds): Promise<Set<string>> {
    const reach = this.reach(permission);
    if (!reach) {
      this.trail.denied(action, 'role', { resourceType, resourceIds, patientIds });
      throw forbidden(`Your role does not allow ${action}.`);
    }
    if (reach === 'all') return new Set();
    const kinds = await this.accessTo(permission, patientIds);
    const refused = patientIds.filter((_, i) => kinds[i] === 'none');
    if (refused.length > 0) {
      this.trail.denied(action, deniedReason(reach), { resourceType, resourceIds, patientIds: refused });
      throw outOfReach();
    }
    return new Set(patientIds.filter((_, i) => kinds[i] === 'break-glass'));
  }

  /**
   * Prisma filter for lists: the patients this request may see for a
   * permission, so lists and their counts never include others.
   */
  patientScope(permission: Permission, action: Action): Prisma.PatientWhereInput {
    const reach = this.reach(permission);
    if (!reach) {
      this.trail.denied(action, 'role');
      throw forbidden(`Your role does not allow ${action}.`);
    }
    if (reach === 'all') return {};
    const reaches = this.reaches(permission);
    return {
      OR: [
        ...(reaches.includes('care-team')
          ? [{ careTeam: { some: { clinicianSubject: this.subject } } }, { breakGlassGrants: { some: { clinicianSubject: this.subject, expiresAt: { gt: new Date() } } } }]
          : []),
        ...(reaches.includes('imported') ? [{ importers: { some: { subject: this.subject } } }] : []),
      ],
    };
  }

  /** Which of these patients this request reaches only through break-glass (for flagging list reads). */
  async breakGlassAmong(permission: Permission, patientIds: string[]): Promise<Set<string>> {
    if (!this.reaches(permission).includes('care-team') || this.reach(permission) === 'all' || patientIds.length === 0) return new Set();
    const kinds = await this.accessTo(permission, patientIds);
    return new Set(patientIds.filter((_, i) => kinds[i] === 'break-glass'));
  }

  /** Forgets cached access (after this request changed a care team, opened break-glass or imported the patient). */
  forget(patientId: string): void {
    this.ties.clear(patientId);
  }

  /**
   * How this request reaches each patient for a permission. A failed lookup
   * (the database unreachable, a statement timeout) is thrown as it is: it is
   * no denial, so it is neither answered FORBIDDEN nor audited as one, and a
   * read is never let through unflagged for want of its break-glass answer.
   */
  private async accessTo(permission: Permission, patientIds: string[]): Promise<PatientAccess[]> {
    const ties = await this.ties.loadMany(patientIds);
    const failure = ties.find((tie) => tie instanceof Error);
    if (failure) throw failure;
    const reaches = this.reaches(permission);
    const careTeam = reaches.includes('care-team');
    const imported = reaches.includes('imported');
    return (ties as PatientTies[]).map((tie) =>
      (careTeam && tie.onTeam) || (imported && tie.imported) ? 'reached' : careTeam && tie.breakGlass ? 'break-glass' : 'none',
    );
  }

  /** Care-team membership, active break-glass grants and imports of these patients, in one statement (one round trip per request). */
  private async lookUpTies(patientIds: readonly string[]): Promise<PatientTies[]> {
    const rows = await this.prisma.$queryRaw<({ patientId: string } & PatientTies)[]>`
      SELECT p.id::text AS "patientId",
        EXISTS (SELECT 1 FROM "CareTeamMember" m WHERE m."patientId" = p.id AND m."clinicianSubject" = ${this.subject}) AS "onTeam",
        EXISTS (SELECT 1 FROM "BreakGlassGrant" g
                WHERE g."patientId" = p.id AND g."clinicianSubject" = ${this.subject} AND g."expiresAt" > ${new Date()}) AS "breakGlass",
        EXISTS (SELECT 1 FROM "PatientImporter" i WHERE i."patientId" = p.id AND i.subject = ${this.subject}) AS imported
      FROM unnest(${[...patientIds]}::uuid[]) AS p(id)`;
    const byPatient = new Map(rows.map((row) => [row.patientId, row]));
    return patientIds.map((id) => byPatient.get(id) ?? { onTeam: false, breakGlass: false, imported: false });
  }
}

/** What a denial record says: which tie the patient lacked. */
function deniedReason(reach: Reach): string {
  return reach === 'imported' ? 'not-imported-by-client' : 'not-on-care-team';
}
