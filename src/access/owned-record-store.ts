import { Prisma, type Patient, type PrismaClient } from '../generated/prisma/client.ts';
import { afterPosition, type KeysetPosition } from '../graphql/paging.ts';
import { type AccessPolicy, outOfReach } from './access-policy.ts';
import type { AuditTrail } from './audit-trail.ts';
import { auditedTransaction } from './audited-transaction.ts';
import type { Action, Permission } from './permissions.ts';

/** What one read or write of patient-owned rows is: the permission it needs, the action and resource type the audit log names. */
export interface AccessRule {
  permission: Permission;
  action: Action;
  resourceType: string;
}

/** A record that belongs to a patient (the patient itself, a case, a prediction), as access checks and audit records name it. */
export interface Owned {
  id: string;
  patientId: string;
}

/** The record whose patient an operation checks, with its type for the denial record. */
export interface Owner extends Owned {
  resourceType: string;
}

/** What a write stored, for its audit record; null when it stored nothing (and so records nothing). */
export interface Written {
  resourceIds: string[];
  /** The patients of what was stored, when they are not the owners' (a new patient). */
  patientIds?: string[];
  reason?: string;
  /** Flags the record as break-glass whatever the access was (the opening of a grant). */
  breakGlass?: boolean;
  /** Records the attempt as refused, for this reason, though the transaction commits (the same work either way). */
  refused?: string;
}

/** The owner a patient id names. */
export const patientOwner = (patientId: string): Owner => ({ resourceType: 'Patient', id: patientId, patientId });

/**
 * Patient-owned rows as one scope may read, list and write them: each method
 * checks the access policy, runs the query (a write in a transaction) and
 * records the audit entry, in one place, so a repository cannot do one
 * without the others (as Medplum's Repository does for FHIR resources).
 */
export class OwnedRecordStore {
  constructor(private readonly scope: { prisma: PrismaClient; access: AccessPolicy; trail: AuditTrail }) {}

  /**
   * Reads what belongs to one owner (a patient's cases, a case's observations).
   * @param returned what the audit record names (default: the owner)
   * @throws FORBIDDEN, after recording the denial, when the owner's patient is out of reach
   */
  async read<T>(rule: AccessRule, owner: Owner, load: () => Promise<T>, returned: (result: T) => Owned[] = () => [owner]): Promise<T> {
    const breakGlass = await this.scope.access.requirePatients(rule.permission, rule.action, [owner.patientId], owner.resourceType, [owner.id]);
    const result = await load();
    this.scope.trail.read(rule.action, rule.resourceType, returned(result), breakGlass);
    return result;
  }

  /**
   * Reads one owner's record with a load whose statement decides access
   * itself (loadWithinReach), then checks and audits as `read` does: for a care-team reach the check finds
   * the decision kept and needs no lookup of its own, so reading and checking
   * are one round trip. A load that found nothing (out of reach, or absent)
   * leaves the check to look up and refuse it exactly as `read` would.
   */
  async readWithinReach<T>(rule: AccessRule, owner: Owner, load: () => Promise<T>, returned: (result: T) => Owned[]): Promise<T> {
    const result = await load();
    const breakGlass = await this.scope.access.requirePatients(rule.permission, rule.action, [owner.patientId], owner.resourceType, [owner.id]);
    this.scope.trail.read(rule.action, rule.resourceType, returned(result), breakGlass);
    return result;
  }

  /**
   * The records of a batch that are within reach (for readWithinReach's
   * load), read by a statement that decides access itself
   * (AccessPolicy.reachSql), each decision kept for the check after; none
   * without the role, whose refusal that check records.
   * @param patientId SQL of a row's patient id in the statement
   * @param query the statement, given the access SQL
   * @param owned how the access decision names a row
   */
  async loadWithinReach<T>(
    rule: AccessRule,
    patientId: Prisma.Sql,
    query: (reach: { within: Prisma.Sql; breakGlass: Prisma.Sql }) => Promise<(T & { breakGlass: boolean })[]>,
    owned: (row: T) => Owned,
  ): Promise<T[]> {
    const { access } = this.scope;
    if (!access.reach(rule.permission)) return [];
    const rows = await query(access.reachSql([rule], patientId));
    return rows.map(({ breakGlass, ...row }) => {
      access.remember([rule], owned(row as T).patientId, breakGlass);
      return row as T;
    });
  }

  /**
   * Finds one record among those within reach, by a query that takes the
   * access filter into its own statement: a record that does not exist and
   * one out of reach cost the same work and get the same answer.
   * @param resourceIds what a denial record names (never an MRN)
   * @param query the query, given the filter of the patients within reach
   * @param owned how the audit record names the row found
   * @param audit whether finding it is a read to record (a write that looks its record up is recorded as that write)
   * @returns the record, or null where the caller may learn it is absent (a reach over every patient)
   * @throws FORBIDDEN, after recording the denial, when it is absent or out of a care-team reach
   */
  async find<T>(
    rule: AccessRule,
    resourceIds: string[],
    query: (within: Prisma.PatientWhereInput) => Promise<T | null>,
    owned: (row: T) => Owned,
    audit = true,
  ): Promise<T | null> {
    const { access, trail } = this.scope;
    const row = await query(access.patientScope(rule.permission, rule.action));
    if (row === null) {
      if (access.reach(rule.permission) === 'all') return null;
      trail.denied(rule.action, 'not-on-care-team', { resourceType: rule.resourceType, resourceIds });
      throw outOfReach();
    }
    const item = owned(row);
    if (audit) trail.read(rule.action, rule.resourceType, [item], await access.breakGlassAmong(rule.permission, [item.patientId]));
    return row;
  }

  /**
   * Lists records of the patients within reach: the query gets the access
   * filter, so lists and their counts never include others.
   */
  async list<T>(rule: AccessRule, query: (within: Prisma.PatientWhereInput) => Promise<T[]>, returned: (rows: T[]) => Owned[]): Promise<T[]> {
    const { access, trail } = this.scope;
    const rows = await query(access.patientScope(rule.permission, rule.action));
    const items = returned(rows);
    trail.read(rule.action, rule.resourceType, items, await access.breakGlassAmong(rule.permission, [...new Set(items.map((item) => item.patientId))]));
    return rows;
  }

  /**
   * Lists a page of the patients within reach that match `where`, in list
   * order ((createdAt, id)) after `after`: `first` rows and one more, which
   * only tells whether another page follows (and is not audited as read). A
   * reach through the care team alone reads its page from the care team's own index
   * (AccessPolicy.careTeamPage).
   * @param client the primary or a replica
   * @returns the rows, and the filter of the patients within reach (for counting them)
   */
  async listPatients(
    rule: AccessRule,
    client: PrismaClient,
    where: Prisma.PatientWhereInput,
    after: KeysetPosition | undefined,
    first: number,
  ): Promise<{ rows: Patient[]; within: Prisma.PatientWhereInput }> {
    const take = first + 1;
    const { access } = this.scope;
    let within: Prisma.PatientWhereInput = {};
    const rows = await this.list(
      rule,
      (filter) => {
        within = filter;
        return access.reachesOnlyCareTeam(rule.permission)
          ? access.careTeamPage(client, where, after, take)
          : client.patient.findMany({ where: { AND: [where, filter, afterPosition(after, 'createdAt')] }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take });
      },
      (found) => found.slice(0, first).map((patient) => ({ id: patient.id, patientId: patient.id })),
    );
    return { rows, within };
  }

  /**
   * Writes rows of the owners' patients (none: a role check only, as for a new
   * patient) in one transaction with the audit record of what it stored, flagged
   * when the access came through break-glass.
   * @throws FORBIDDEN, after recording the denial, when a patient is out of reach
   */
  async write<T>(rule: AccessRule, owners: Owner[], write: (tx: Prisma.TransactionClient) => Promise<T>, written: (result: T) => Written | null): Promise<T> {
    const breakGlass = await this.requireOwners(rule, owners);
    return auditedTransaction(this.scope, write, (result) => {
      const stored = written(result);
      return stored ? [entryOf(rule, owners, breakGlass, stored)] : [];
    });
  }

  /**
   * Writes rows of the owners' patients with one statement that also appends
   * the audit record, when it wrote any row: no transaction round trips. The
   * rows' ids are chosen before (the record names them).
   * @param write a data-modifying statement returning the rows it wrote (none: nothing stored, nothing recorded)
   * @param stored what the record names when it writes
   * @throws FORBIDDEN, after recording the denial, when a patient is out of reach
   */
  async insert<T>(rule: AccessRule, owners: Owner[], write: Prisma.Sql, stored: Written): Promise<T[]> {
    const breakGlass = await this.requireOwners(rule, owners);
    return this.scope.trail.along<T>(this.scope.prisma, write, [entryOf(rule, owners, breakGlass, stored)]);
  }

  /**
   * Finds one record for a write with a statement that decides access itself
   * (AccessPolicy.reachSql): reading and checking are one round trip, an absent
   * record and one out of reach cost the same and get the same answer, and the
   * write's own check then needs no lookup.
   * @param query the statement, given the access SQL for the record aliased `c` (its patient in `c."patientId"`)
   * @param alsoRead a read the statement makes along (a prediction's inputs): its
   *   permission is required too, and the read is recorded, naming the record
   *   (or its patient, for a read of resource type Patient)
   * @returns the record, or null where the caller may learn it is absent (a reach over every patient)
   * @throws FORBIDDEN, after recording the denial, when it is absent or out of a care-team reach
   */
  async findForWrite<T extends Owned>(
    rule: AccessRule,
    resourceIds: string[],
    query: (reach: { within: Prisma.Sql; breakGlass: Prisma.Sql }) => Promise<(T & { breakGlass: boolean }) | null>,
    alsoRead?: AccessRule,
  ): Promise<T | null> {
    const { access, trail } = this.scope;
    const rules = alsoRead ? [rule, alsoRead] : [rule];
    const found = await query(access.reachSql(rules, Prisma.sql`c."patientId"`));
    if (found === null) {
      if (rules.every((each) => access.reach(each.permission) === 'all')) return null;
      trail.denied(rule.action, 'not-on-care-team', { resourceType: rule.resourceType, resourceIds });
      throw outOfReach();
    }
    const { breakGlass, ...row } = found;
    access.remember(rules, row.patientId, breakGlass);
    // A read of the patient's records (a sequence model's history) names the patient; any other, the record found.
    const readId = alsoRead?.resourceType === 'Patient' ? row.patientId : row.id;
    if (alsoRead) trail.read(alsoRead.action, alsoRead.resourceType, [{ id: readId, patientId: row.patientId }], new Set(breakGlass ? [row.patientId] : []));
    return row as unknown as T;
  }

  /**
   * Checks the owners' patients (or the role alone, when there are none)
   * without reading or writing, for lookups a write depends on (the records
   * an imported identifier names); returns those reached through break-glass.
   * @throws FORBIDDEN, after recording the denial, when a patient is out of reach
   */
  async requireOwners(rule: AccessRule, owners: Owner[]): Promise<Set<string>> {
    const { access } = this.scope;
    if (owners.length === 0) {
      access.require(rule.permission, rule.action);
      return new Set();
    }
    return access.requirePatients(rule.permission, rule.action, owners.map((owner) => owner.patientId), owners[0]!.resourceType, owners.map((owner) => owner.id));
  }
}

/** The audit entry of a write: what it stored, of which patients, flagged when reached through break-glass. */
function entryOf(rule: AccessRule, owners: Owner[], breakGlass: Set<string>, stored: Written) {
  const patientIds = owners.map((owner) => owner.patientId);
  const entry = {
    action: rule.action,
    outcome: stored.refused === undefined ? ('SUCCESS' as const) : ('DENIED' as const),
    resourceType: rule.resourceType,
    resourceIds: stored.resourceIds,
    patientIds: stored.patientIds ?? [...new Set(patientIds)],
    breakGlass: stored.breakGlass ?? patientIds.some((id) => breakGlass.has(id)),
  };
  const reason = stored.refused ?? stored.reason;
  return reason === undefined ? entry : { ...entry, reason };
}
