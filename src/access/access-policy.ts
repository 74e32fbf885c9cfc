import DataLoader from 'dataloader';
import { codedError, ErrorCode } from '../errors/errors.ts';
import { Prisma, type Patient, type PrismaClient } from '../generated/prisma/client.ts';
import { afterPosition, type KeysetPosition } from '../graphql/paging.ts';
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
/** The nil UUID: no patient has it, so a request confined to it reaches no one. */
const noPatient = '00000000-0000-0000-0000-000000000000';

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
  /** Each permission's reaches, worked out once per request (the roles do not change within one). */
  private readonly reachesByPermission = new Map<Permission, Reach[]>();
  /** Whether any permission reaches patients through this subject's imports (then a cached tie must say so). */
  private readonly mayReachByImport: boolean;
  /** The one patient this request is confined to (a SMART patient/ scope's launch patient), if any. */
  private confinedTo: string | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    readonly principal: Principal,
    private readonly trail: AuditTrail,
  ) {
    this.ties = new DataLoader((patientIds) => this.lookUpTies(patientIds));
    // A token whose SMART scopes are all patient/ ones reaches its launch patient alone, through every interface
    // (GraphQL has no per-type scopes; FHIR narrows further by type); without a launch patient, it reaches no one.
    const scopes = principal.smartScopes;
    if (scopes && scopes.length > 0 && scopes.every((scope) => scope.context === 'patient')) this.confinedTo = principal.launchPatient ?? noPatient;
    this.mayReachByImport = principal.roles.some((role) => Object.values(permissionTable).some((rule: Partial<Record<Role, Reach>>) => rule[role] === 'imported'));
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
    let reaches = this.reachesByPermission.get(permission);
    if (reaches === undefined) {
      const rule: Partial<Record<Role, Reach>> = permissionTable[permission];
      reaches = [...new Set(this.principal.roles.map((role) => rule[role]).filter((value) => value !== undefined))];
      this.reachesByPermission.set(permission, reaches);
    }
    return reaches;
  }

  /**
   * Confines the rest of this request to one patient, within what its roles
   * reach: a SMART `patient/` scope reaches its launch patient only. Every
   * check and filter below then refuses (as out of reach) any other patient.
   */
  confineTo(patientId: string): void {
    this.confinedTo = patientId;
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
    const outside = this.confinedTo === undefined ? [] : patientIds.filter((id) => id !== this.confinedTo);
    if (outside.length > 0) {
      this.trail.denied(action, 'outside-launch-context', { resourceType, resourceIds, patientIds: outside });
      throw outOfReach();
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
    const reached = this.reachScope(permission, action);
    return this.confinedTo === undefined ? reached : { AND: [{ id: this.confinedTo }, reached] };
  }

  private reachScope(permission: Permission, action: Action): Prisma.PatientWhereInput {
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
    const reachesOfRules = rules.map(({ permission, action }) => {
      const reaches = this.reaches(permission);
      if (reaches.length === 0) {
        this.trail.denied(action, 'role');
        throw forbidden(`Your role does not allow ${action}.`);
      }
      return reaches;
    });
    const confined = this.confinedTo === undefined ? Prisma.sql`TRUE` : Prisma.sql`${patientId}::text = ${this.confinedTo}`;
    if (reachesOfRules.every((reaches) => reaches.includes('all'))) return { within: confined, breakGlass: Prisma.sql`FALSE` };
    const subject = this.subject;
    const ties: Record<Exclude<Reach, 'all'>, Prisma.Sql> = {
      'care-team': Prisma.sql`EXISTS (SELECT 1 FROM "CareTeamMember" m WHERE m."patientId" = ${patientId} AND m."clinicianSubject" = ${subject})`,
      imported: Prisma.sql`EXISTS (SELECT 1 FROM "PatientImporter" i WHERE i."patientId" = ${patientId} AND i.subject = ${subject})`,
    };
    const grant = Prisma.sql`EXISTS (SELECT 1 FROM "BreakGlassGrant" g
      WHERE g."patientId" = ${patientId} AND g."clinicianSubject" = ${subject} AND g."expiresAt" > ${new Date()})`;
    // Per permission: a plain tie of one of its reaches, or (a care-team reach) an active grant.
    const plain = (reaches: Reach[]) => (reaches.includes('all') ? Prisma.sql`TRUE` : Prisma.join(reaches.map((reach) => ties[reach as Exclude<Reach, 'all'>]), ' OR ', '(', ')'));
    const reached = (reaches: Reach[]) => (reaches.includes('care-team') ? Prisma.sql`(${plain(reaches)} OR ${grant})` : plain(reaches));
    const within = Prisma.join([confined, ...reachesOfRules.map(reached)], ' AND ', '(', ')');
    const allPlain = Prisma.join(reachesOfRules.map(plain), ' AND ', '(', ')');
    return { within, breakGlass: Prisma.sql`(NOT ${allPlain} AND ${within})` };
  }

  /**
   * Keeps what a statement decided with reachSql for a patient within a
   * care-team reach (the rules given to reachSql), so later checks of this
   * request need no lookup. Only a care-team decision is kept: it tells
   * membership from break-glass, where one under several reaches would not
   * tell which tie held.
   */
  remember(rules: { permission: Permission }[], patientId: string, breakGlass: boolean): void {
    const careTeamOnly = rules.every(({ permission }) => this.reaches(permission).every((reach) => reach === 'care-team'));
    if (careTeamOnly && !this.mayReachByImport) this.ties.prime(patientId, { onTeam: !breakGlass, breakGlass, imported: false });
  }

  /** Whether a permission reaches patients through the care team alone (its lists can read the care team's own index). */
  reachesOnlyCareTeam(permission: Permission): boolean {
    const reaches = this.reaches(permission);
    return reaches.length === 1 && reaches[0] === 'care-team' && this.confinedTo === undefined;
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

/** The patient list's order, (createdAt, id), as PostgreSQL sorts it (a uuid compares as its lower-case text does). */
function inListOrder(a: Patient, b: Patient): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** What a denial record says: which tie the patient lacked. */
function deniedReason(reach: Reach): string {
  return reach === 'imported' ? 'not-imported-by-client' : 'not-on-care-team';
}
