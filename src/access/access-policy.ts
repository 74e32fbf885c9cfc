import DataLoader from 'dataloader';
import { codedError, ErrorCode } from '../errors/errors.ts';
import { Prisma, type Patient, type PrismaClient } from '../generated/prisma/client.ts';
import { afterPosition, type KeysetPosition } from '../graphql/paging.ts';
import type { AuditTrail } from './audit-trail.ts';
import { type Action, type Permission, permissionTable, type Reach } from './permissions.ts';
import type { Principal, Role } from './principal.ts';

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
    const kinds = await this.accessTo(patientIds);
    const refused = patientIds.filter((_, i) => kinds[i] === 'none');
    if (refused.length > 0) {
      this.trail.denied(action, 'not-on-care-team', { resourceType, resourceIds, patientIds: refused });
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
    return {
      OR: [
        { careTeam: { some: { clinicianSubject: this.subject } } },
        { breakGlassGrants: { some: { clinicianSubject: this.subject, expiresAt: { gt: new Date() } } } },
      ],
    };
  }

  /**
   * SQL that decides access inside the statement that reads a patient's
   * record, so reading and checking are one round trip and a record that
   * does not exist costs what one out of reach does: `within`, a condition
   * true when the patient whose id `patientId` holds is within reach for
   * every permission given, and `breakGlass`, true when only a break-glass
   * grant reaches it (keep it with `remember`).
   * @throws FORBIDDEN, after recording the denial, when no role gives one of the permissions
   */
  reachSql(rules: { permission: Permission; action: Action }[], patientId: Prisma.Sql): { within: Prisma.Sql; breakGlass: Prisma.Sql } {
    const reaches = rules.map(({ permission, action }) => {
      const reach = this.reach(permission);
      if (!reach) {
        this.trail.denied(action, 'role');
        throw forbidden(`Your role does not allow ${action}.`);
      }
      return reach;
    });
    if (reaches.every((reach) => reach === 'all')) return { within: Prisma.sql`TRUE`, breakGlass: Prisma.sql`FALSE` };
    const onTeam = Prisma.sql`EXISTS (SELECT 1 FROM "CareTeamMember" m WHERE m."patientId" = ${patientId} AND m."clinicianSubject" = ${this.subject})`;
    const now = new Date();
    const grant = Prisma.sql`EXISTS (SELECT 1 FROM "BreakGlassGrant" g
      WHERE g."patientId" = ${patientId} AND g."clinicianSubject" = ${this.subject} AND g."expiresAt" > ${now})`;
    return { within: Prisma.sql`(${onTeam} OR ${grant})`, breakGlass: Prisma.sql`(NOT ${onTeam} AND ${grant})` };
  }

  /**
   * Keeps what a statement decided with reachSql for a patient within a
   * care-team reach (the rules given to reachSql), so later checks of this
   * request need no lookup.
   */
  remember(rules: { permission: Permission }[], patientId: string, breakGlass: boolean): void {
    // Under an 'all' reach the statement checked no care team: it decided nothing to keep.
    if (rules.some(({ permission }) => this.reach(permission) === 'care-team')) this.access.prime(patientId, breakGlass ? 'break-glass' : 'care-team');
  }

  /**
   * A page of the patients a care-team reach covers (the care team and the
   * patients of active break-glass grants) that match `where`, in list order
   * ((createdAt, id)) after `after`, at most `take`. The care team is read as a
   * range of its (clinicianSubject, patientCreatedAt, patientId) index, so a
   * page costs the same whatever the number of patients; a filter over all
   * patients (patientScope) made PostgreSQL read the whole care team first.
   * The patients of active grants, few, are read beside it and merged in.
   */
  async careTeamPage(client: PrismaClient, where: Prisma.PatientWhereInput, after: KeysetPosition | undefined, take: number): Promise<Patient[]> {
    const subject = this.subject;
    const [members, granted] = await Promise.all([
      client.careTeamMember.findMany({
        where: { clinicianSubject: subject, patient: where, ...(after ? { patientCreatedAt: { gte: after.time }, OR: [{ patientCreatedAt: { gt: after.time } }, { patientId: { gt: after.id } }] } : {}) },
        orderBy: [{ patientCreatedAt: 'asc' }, { patientId: 'asc' }],
        take,
        select: { patient: true },
      }),
      // Read from the grants' side: a clinician's active grants are few, however many patients there are.
      client.breakGlassGrant.findMany({
        where: { clinicianSubject: subject, expiresAt: { gt: new Date() }, patient: { AND: [where, afterPosition(after, 'createdAt')] } },
        select: { patient: true },
      }),
    ]);
    const page = new Map<string, Patient>();
    for (const { patient } of [...members, ...granted]) page.set(patient.id, patient);
    return [...page.values()].sort(inListOrder).slice(0, take);
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

/** The patient list's order, (createdAt, id), as PostgreSQL sorts it (a uuid compares as its lower-case text does). */
function inListOrder(a: Patient, b: Patient): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
