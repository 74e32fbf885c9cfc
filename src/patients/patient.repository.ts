import DataLoader from 'dataloader';
import { auditedTransaction } from '../audit/audited-transaction.ts';
import { outOfReach } from '../auth/access-policy.ts';
import type { Patient, Prisma } from '../generated/prisma/client.ts';
import { afterPosition, type Connection, encodeCursor, type KeysetPosition, toConnection } from '../graphql/paging.ts';
import type { RequestScope } from '../server/request-scope.ts';

export interface PatientListFilter {
  nameContains?: string | undefined;
  mrn?: string | undefined;
  includeArchived: boolean;
}

const asItem = (patient: Patient) => ({ id: patient.id, patientId: patient.id });

/**
 * Patients as one request may read and write them: every method checks the
 * access policy first and records what it returned or changed in the audit
 * trail. Loaders batch and cache per request.
 */
export class PatientRepository {
  private readonly byId: DataLoader<string, Patient | null>;

  constructor(private readonly scope: RequestScope) {
    this.byId = new DataLoader(async (ids) => {
      const rows = await scope.prisma.patient.findMany({ where: { id: { in: [...ids] } } });
      const found = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => found.get(id) ?? null);
    });
  }

  async findById(id: string): Promise<Patient | null> {
    const breakGlass = await this.scope.access.requirePatients('patient.read', 'patient.read', [id]);
    const patient = await this.byId.load(id);
    if (patient) this.scope.trail.read('patient.read', 'Patient', [asItem(patient)], breakGlass);
    return patient;
  }

  /** Whether an active patient exists, for a clinician about to open break-glass access (reveals nothing else). */
  async existsForBreakGlass(id: string): Promise<boolean> {
    this.scope.access.require('breakGlass.open', 'breakGlass.open');
    return (await this.scope.prisma.patient.count({ where: { id, archivedAt: null } })) === 1;
  }

  /**
   * Looks the MRN up only among the patients this request may see, so for a
   * clinician an MRN outside their care team is indistinguishable from an
   * unknown one (both FORBIDDEN).
   */
  async findByMrn(mrn: string): Promise<Patient | null> {
    const { access, prisma, trail } = this.scope;
    const patient = await prisma.patient.findFirst({ where: { AND: [{ mrn }, access.patientScope('patient.read', 'patient.read')] } });
    if (!patient) {
      if (access.reach('patient.read') === 'all') return null;
      trail.denied('patient.read', 'not-on-care-team', { resourceType: 'Patient' });
      throw outOfReach();
    }
    this.byId.prime(patient.id, patient);
    trail.read('patient.read', 'Patient', [asItem(patient)], await access.breakGlassAmong('patient.read', [patient.id]));
    return patient;
  }

  /**
   * The id of the patient with this MRN, for auditors (audit.read). Recorded
   * whether or not it exists, even when reads are not, since it names a patient.
   */
  async findIdByMrnForAudit(mrn: string): Promise<string | null> {
    const { access, prisma, trail } = this.scope;
    access.require('audit.read', 'patient.lookupForAudit');
    const found = await prisma.patient.findUnique({ where: { mrn }, select: { id: true } });
    const ids = found ? [found.id] : [];
    trail.note({ action: 'patient.lookupForAudit', resourceType: 'Patient', resourceIds: ids, patientIds: ids, ...(found ? {} : { reason: 'not-found' }) });
    return found?.id ?? null;
  }

  async list(filter: PatientListFilter, first: number, after?: KeysetPosition): Promise<Connection<Patient>> {
    const { access, replica, trail } = this.scope;
    const where: Prisma.PatientWhereInput = { AND: [listWhere(filter), access.patientScope('patient.read', 'patient.read')] };
    const rows = await replica.patient.findMany({
      where: { AND: [where, afterPosition(after, 'createdAt')] },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: first + 1,
    });
    const page = rows.slice(0, first);
    for (const row of page) this.byId.prime(row.id, row);
    const ids = page.map((row) => row.id);
    trail.read('patient.read', 'Patient', page.map(asItem), await access.breakGlassAmong('patient.read', ids));
    return toConnection(rows, first, after !== undefined, () => replica.patient.count({ where }), (row) =>
      encodeCursor({ time: row.createdAt, id: row.id }),
    );
  }

  create(data: Prisma.PatientCreateInput): Promise<Patient> {
    this.scope.access.require('patient.write', 'patient.create');
    return auditedTransaction(this.scope, (tx) => tx.patient.create({ data }), (patient) => [
      { action: 'patient.create', outcome: 'SUCCESS', resourceType: 'Patient', resourceIds: [patient.id], patientIds: [patient.id] },
    ]);
  }

  /** Changes a patient record; `action` names the change in the audit log (patient.update, patient.archive). */
  async update(id: string, data: Prisma.PatientUpdateInput, action: string): Promise<Patient> {
    await this.scope.access.requirePatients('patient.write', action, [id]);
    this.byId.clear(id);
    return auditedTransaction(this.scope, (tx) => tx.patient.update({ where: { id }, data }), (patient) => [
      { action, outcome: 'SUCCESS', resourceType: 'Patient', resourceIds: [patient.id], patientIds: [patient.id] },
    ]);
  }

  /**
   * Merges a duplicate record into the surviving one: cases and care-team
   * memberships move over, the duplicate is archived and points at the survivor.
   */
  async merge(duplicateId: string, survivorId: string): Promise<Patient> {
    await this.scope.access.requirePatients('patient.write', 'patient.merge', [duplicateId, survivorId]);
    this.byId.clearAll();
    return auditedTransaction(
      this.scope,
      async (tx) => {
        await tx.case.updateMany({ where: { patientId: duplicateId }, data: { patientId: survivorId } });
        const members = await tx.careTeamMember.findMany({ where: { patientId: duplicateId } });
        await tx.careTeamMember.createMany({
          data: members.map((member) => ({ ...member, patientId: survivorId })),
          skipDuplicates: true,
        });
        await tx.careTeamMember.deleteMany({ where: { patientId: duplicateId } });
        await tx.patient.update({ where: { id: duplicateId }, data: { archivedAt: new Date(), mergedIntoId: survivorId } });
        return tx.patient.findUniqueOrThrow({ where: { id: survivorId } });
      },
      () => [
        {
          action: 'patient.merge',
          outcome: 'SUCCESS',
          resourceType: 'Patient',
          resourceIds: [duplicateId, survivorId],
          patientIds: [duplicateId, survivorId],
        },
      ],
    );
  }
}

function listWhere(filter: PatientListFilter): Prisma.PatientWhereInput {
  const where: Prisma.PatientWhereInput = {};
  if (!filter.includeArchived) where.archivedAt = null;
  if (filter.mrn !== undefined) where.mrn = filter.mrn;
  if (filter.nameContains !== undefined) {
    where.OR = [
      { givenName: { contains: filter.nameContains, mode: 'insensitive' } },
      { familyName: { contains: filter.nameContains, mode: 'insensitive' } },
    ];
  }
  return where;
}
