import DataLoader from 'dataloader';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { codedError, ErrorCode } from '../errors/errors.ts';
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import type { Principal, Role } from './principal.ts';

/** How far a role reaches for a permission: every patient, or only those it cares for. */
type Reach = 'all' | 'care-team';

/**
 * The one table of who may do what (README "Roles"). Patient-scoped
 * permissions reach either every patient or only the clinician's care team
 * (plus patients under an active break-glass grant).
 */
export const permissionTable = {
  // An interface engine (integration) imports patients, cases and observations; it reads patients to match them, no clinical data.
  'patient.read': { admin: 'all', clinician: 'care-team', integration: 'all' },
  'patient.write': { admin: 'all', integration: 'all' },
  'clinical.read': { clinician: 'care-team' },
  'clinical.write': { clinician: 'care-team', integration: 'all' },
  'consent.record': { admin: 'all', clinician: 'care-team' },
  'careTeam.manage': { admin: 'all' },
  'breakGlass.open': { clinician: 'all' },
  'audit.read': { auditor: 'all' },
  'model.read': { clinician: 'all', admin: 'all', auditor: 'all', data_scientist: 'all' },
  'model.train': { data_scientist: 'all', admin: 'all' },
  'model.promote': { data_scientist: 'all', admin: 'all' },
  'model.monitor': { data_scientist: 'all', admin: 'all' },
  // Training on platform data: de-identified rows, never shown to the caller.
  'clinical.deidentified': { data_scientist: 'all', admin: 'all' },
  // Bulk FHIR exports with names and MRNs: admins only, and only for operations (the FHIR routes check the purpose).
  'clinical.export.identified': { admin: 'all' },
} as const satisfies Record<string, Partial<Record<Role, Reach>>>;

export type Permission = keyof typeof permissionTable;

/** How this request reaches one patient. */
type PatientAccess = 'care-team' | 'break-glass' | 'none';

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
  private readonly access: DataLoader<string, PatientAccess>;

  constructor(
    private readonly prisma: PrismaClient,
    readonly principal: Principal,
    private readonly trail: AuditTrail,
  ) {
    this.access = new DataLoader((patientIds) => this.lookUpAccess(patientIds));
  }

  get subject(): string {
    return this.principal.subject;
  }

  /** The widest reach any of the principal's roles gives for a permission, if any. */
  reach(permission: Permission): Reach | undefined {
    const rule: Partial<Record<Role, Reach>> = permissionTable[permission];
    const reaches = this.principal.roles.map((role) => rule[role]).filter((value) => value !== undefined);
    return reaches.includes('all') ? 'all' : reaches[0];
  }

  /** Checks the role only (for operations on no particular patient). */
  require(permission: Permission, action: string): void {
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
  async requirePatients(permission: Permission, action: string, patientIds: string[], resourceType = 'Patient', resourceIds = patientIds): Promise<Set<string>> {
    const reach = this.reach(permission);
    if (!reach) {
      this.trail.denied(action, 'role', { resourceType, resourceIds, patientIds });
      throw forbidden(`Your role does not allow ${action}.`);
    }
    if (reach === 'all') return new Set();
    const kinds = await this.accessTo(patientIds);
    const refused = patientIds.filter((_, i) => kinds[i] === 'none');
    if (refused.length > 0) {
      this.trail.denied(action, 'not-on-care-team', { resourceType, resourceIds, patientIds: refused });
      throw outOfReach();
    }
    return new Set(patientIds.filter((_, i) => kinds[i] === 'break-glass'));
  }

  /**
   * Checks access to one record of a patient (a case, a prediction) looked up
   * by id. For a care-team reach, a record that does not exist is refused
   * exactly like one out of reach, so ids reveal nothing.
   * @param patientId the record's patient, or undefined when no record has the id
   * @returns the break-glass set (see requirePatients), or undefined for a missing record the caller may be told about
   */
  async requireRecord(permission: Permission, action: string, resourceType: string, id: string, patientId: string | undefined): Promise<Set<string> | undefined> {
    this.require(permission, action);
    if (patientId === undefined) {
      if (this.reach(permission) === 'all') return undefined;
      this.trail.denied(action, 'not-on-care-team', { resourceType, resourceIds: [id] });
      throw outOfReach();
    }
    return this.requirePatients(permission, action, [patientId], resourceType, [id]);
  }

  /**
   * Prisma filter for lists: the patients this request may see for a
   * permission, so lists and their counts never include others.
   */
  patientScope(permission: Permission, action: string): Prisma.PatientWhereInput {
    const reach = this.reach(permission);
    if (!reach) {
      this.trail.denied(action, 'role');
      throw forbidden(`Your role does not allow ${action}.`);
    }
    if (reach === 'all') return {};
    return {
      OR: [
        { careTeam: { some: { clinicianSubject: this.subject } } },
        { breakGlassGrants: { some: { clinicianSubject: this.subject, expiresAt: { gt: new Date() } } } },
      ],
    };
  }

  /** Which of these patients this request reaches only through break-glass (for flagging list reads). */
  async breakGlassAmong(permission: Permission, patientIds: string[]): Promise<Set<string>> {
    if (this.reach(permission) !== 'care-team' || patientIds.length === 0) return new Set();
    const kinds = await this.accessTo(patientIds);
    return new Set(patientIds.filter((_, i) => kinds[i] === 'break-glass'));
  }

  /** Forgets cached access (after this request changed a care team or opened break-glass). */
  forget(patientId: string): void {
    this.access.clear(patientId);
  }

  /**
   * How this request reaches each patient. A failed lookup (the database
   * unreachable, a statement timeout) is thrown as it is: it is no denial, so
   * it is neither answered FORBIDDEN nor audited as one, and a read is never
   * let through unflagged for want of its break-glass answer.
   */
  private async accessTo(patientIds: string[]): Promise<PatientAccess[]> {
    const kinds = await this.access.loadMany(patientIds);
    const failure = kinds.find((kind) => kind instanceof Error);
    if (failure) throw failure;
    return kinds as PatientAccess[];
  }

  /** Care-team membership and active break-glass grants of these patients, in one statement (one round trip per request). */
  private async lookUpAccess(patientIds: readonly string[]): Promise<PatientAccess[]> {
    const rows = await this.prisma.$queryRaw<{ patientId: string; onTeam: boolean; breakGlass: boolean }[]>`
      SELECT p.id::text AS "patientId",
        EXISTS (SELECT 1 FROM "CareTeamMember" m WHERE m."patientId" = p.id AND m."clinicianSubject" = ${this.subject}) AS "onTeam",
        EXISTS (SELECT 1 FROM "BreakGlassGrant" g
                WHERE g."patientId" = p.id AND g."clinicianSubject" = ${this.subject} AND g."expiresAt" > ${new Date()}) AS "breakGlass"
      FROM unnest(${[...patientIds]}::uuid[]) AS p(id)`;
    const byPatient = new Map(rows.map((row) => [row.patientId, row]));
    return patientIds.map((id) => {
      const row = byPatient.get(id);
      return row?.onTeam ? 'care-team' : row?.breakGlass ? 'break-glass' : 'none';
    });
  }
}
