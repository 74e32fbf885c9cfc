import DataLoader from 'dataloader';
import { type AccessRule, patientOwner } from '../access/owned-record-store.ts';
import type { Scope } from '../access/scope.ts';
import { type Patient, Prisma } from '../generated/prisma/client.ts';
import { type Connection, encodeCursor, type KeysetPosition, toConnection } from '../graphql/paging.ts';

export type { Patient };

export interface PatientListFilter {
  nameContains?: string | undefined;
  mrn?: string | undefined;
  includeArchived: boolean;
}

/** SQL: the patient's own columns, named (a prepared `p.*` would fail once a migration adds a column). */
const patientColumns = Prisma.raw(Object.values(Prisma.PatientScalarFieldEnum).map((column) => `p."${column}"`).join(', '));

const asItem = (patient: Patient) => ({ id: patient.id, patientId: patient.id });

const readPatient: AccessRule = { permission: 'patient.read', action: 'patient.read', resourceType: 'Patient' };
/**
 * Rows of another domain that a patient's read brings along in its own
 * statement (the patient's cases, with what the client selected under them),
 * so a patient's detail is one round trip. The repository that hands them
 * out still checks access and audits what it returns.
 */
export interface PatientAlong {
  /** Names what is brought along: reads with equal keys share one loader. */
  key: string;
  /** SQL of one JSON value, for the patient aliased `p`. */
  sql: Prisma.Sql;
  /** Takes the value read for a patient within reach. */
  keep(patientId: string, value: unknown): void;
}

const writePatient = (action: 'patient.create' | 'patient.update' | 'patient.archive' | 'patient.merge'): AccessRule => ({ permission: 'patient.write', action, resourceType: 'Patient' });

/**
 * Patients as one request may read and write them: every method checks the
 * access policy first and records what it returned or changed in the audit
 * trail. Loaders batch and cache per request.
 */
export class PatientRepository {
  private readonly byId: DataLoader<string, Patient | null>;
  /** Patients read with rows of another domain along, one loader per kind of rows (PatientAlong.key). */
  private readonly byIdAlong = new Map<string, DataLoader<string, Patient | null>>();

  constructor(private readonly scope: Scope) {
    this.byId = new DataLoader((ids) => this.patientsWithinReach(ids));
  }

  /** @param along rows of another domain to read in the same statement (none: the patient alone) */
  findById(id: string, along?: PatientAlong): Promise<Patient | null> {
    const loader = along ? this.loaderAlong(along) : this.byId;
    const load = async () => {
      const patient = await loader.load(id);
      // Absent or out of reach is not remembered: later in the request, break-glass or an import may reach it.
      if (!patient) loader.clear(id);
      return patient;
    };
    return this.scope.records.readWithinReach(readPatient, patientOwner(id), load, (patient) => (patient ? [asItem(patient)] : []));
  }

  private loaderAlong(along: PatientAlong): DataLoader<string, Patient | null> {
    let loader = this.byIdAlong.get(along.key);
    if (!loader) this.byIdAlong.set(along.key, (loader = new DataLoader((ids) => this.patientsWithinReach(ids, along))));
    return loader;
  }

  /** The patients with these ids that are within reach, read and decided in one statement (OwnedRecordStore.loadWithinReach). */
  private async patientsWithinReach(ids: readonly string[], along?: PatientAlong): Promise<(Patient | null)[]> {
    const rows = await this.scope.records.loadWithinReach<Patient & { along?: string }>(
      readPatient,
      Prisma.sql`p.id`,
      (reach) => this.scope.prisma.$queryRaw`
        SELECT ${patientColumns}, ${reach.breakGlass} AS "breakGlass"${along ? Prisma.sql`, (${along.sql})::text AS "along"` : Prisma.empty}
        FROM "Patient" p WHERE p.id = ANY(${[...ids]}::uuid[]) AND ${reach.within}`,
      asItem,
    );
    const found = new Map<string, Patient>();
    for (const { along: value, ...patient } of rows) {
      // Read as text and parsed here: Prisma's handling of a JSON column cost more than the parse (in process, 10-20% of the read).
      along?.keep(patient.id, JSON.parse(value!));
      // Later reads of the patient alone (a case's patient) find it read already.
      if (along) this.byId.prime(patient.id, patient);
      found.set(patient.id, patient);
    }
    return ids.map((id) => found.get(id) ?? null);
  }

  /**
   * Looks the MRN up only among the patients this request may see, so for a
   * clinician an MRN outside their care team is indistinguishable from an
   * unknown one (both FORBIDDEN).
   */
  async findByMrn(mrn: string): Promise<Patient | null> {
    const patient = await this.scope.records.find(readPatient, [], (within) => this.scope.prisma.patient.findFirst({ where: { AND: [{ mrn }, within] } }), asItem);
    if (patient) this.byId.prime(patient.id, patient);
    return patient;
  }

  /**
   * The id of the patient with this MRN among those the caller may write, for
   * an import matching the hospital's record (a lookup a write depends on, not
   * a read: the record itself is not returned).
   */
  async findIdByMrnForWrite(mrn: string, permission: 'patient.write' | 'clinical.write', action: 'patient.update' | 'case.open'): Promise<string | null> {
    const rule: AccessRule = { permission, action, resourceType: 'Patient' };
    const found = await this.scope.records.find(rule, [], (within) => this.scope.prisma.patient.findFirst({ where: { AND: [{ mrn }, within] }, select: { id: true } }), (row) => ({ id: row.id, patientId: row.id }), false);
    return found?.id ?? null;
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
    const { replica, records } = this.scope;
    const where = listWhere(filter);
    const { rows, within } = await records.listPatients(readPatient, replica, where, after, first);
    for (const row of rows.slice(0, first)) this.byId.prime(row.id, row);
    return toConnection(rows, first, after !== undefined, () => replica.patient.count({ where: { AND: [where, within] } }), (row) =>
      encodeCursor({ time: row.createdAt, id: row.id }),
    );
  }

  /** Registers a patient; its registrant is recorded among its importers, so an integration reaches what it registered (GraphQL or FHIR). */
  create(data: Prisma.PatientCreateInput): Promise<Patient> {
    const subject = this.scope.access.subject;
    const write = async (tx: Prisma.TransactionClient) => {
      const patient = await tx.patient.create({ data });
      await tx.patientImporter.create({ data: { patientId: patient.id, subject } });
      return patient;
    };
    return this.scope.records.write(writePatient('patient.create'), [], write, (patient) => ({
      resourceIds: [patient.id],
      patientIds: [patient.id],
    }));
  }

  /** Changes a patient record; `action` names the change in the audit log. */
  update(id: string, data: Prisma.PatientUpdateInput, action: 'patient.update' | 'patient.archive'): Promise<Patient> {
    this.byId.clear(id);
    return this.scope.records.write(writePatient(action), [patientOwner(id)], (tx) => tx.patient.update({ where: { id }, data }), (patient) => ({
      resourceIds: [patient.id],
    }));
  }

  /**
   * Merges a duplicate record into the surviving one: cases and care-team
   * memberships move over, the duplicate is archived and points at the survivor.
   */
  merge(duplicateId: string, survivorId: string): Promise<Patient> {
    this.byId.clearAll();
    return this.scope.records.write(
      writePatient('patient.merge'),
      [patientOwner(duplicateId), patientOwner(survivorId)],
      async (tx) => {
        await tx.case.updateMany({ where: { patientId: duplicateId }, data: { patientId: survivorId } });
        const members = await tx.careTeamMember.findMany({ where: { patientId: duplicateId } });
        const survivor = await tx.patient.findUniqueOrThrow({ where: { id: survivorId }, select: { createdAt: true } });
        await tx.careTeamMember.createMany({
          data: members.map((member) => ({ ...member, patientId: survivorId, patientCreatedAt: survivor.createdAt })),
          skipDuplicates: true,
        });
        await tx.careTeamMember.deleteMany({ where: { patientId: duplicateId } });
        // The clients that imported the duplicate keep reaching its cases, now the survivor's.
        const importers = await tx.patientImporter.findMany({ where: { patientId: duplicateId } });
        await tx.patientImporter.createMany({ data: importers.map((importer) => ({ ...importer, patientId: survivorId })), skipDuplicates: true });
        await tx.patient.update({ where: { id: duplicateId }, data: { archivedAt: new Date(), mergedIntoId: survivorId } });
        return tx.patient.findUniqueOrThrow({ where: { id: survivorId } });
      },
      () => ({ resourceIds: [duplicateId, survivorId] }),
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
