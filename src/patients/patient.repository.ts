import DataLoader from 'dataloader';
import type { Patient, Prisma } from '../generated/prisma/client.ts';
import { afterPosition, type Connection, type KeysetPosition, toConnection } from '../graphql/paging.ts';
import type { RequestScope } from '../server/request-scope.ts';

export interface PatientListFilter {
  nameContains?: string | undefined;
  mrn?: string | undefined;
  includeArchived: boolean;
}

/** Patients as one request may read and write them; loaders batch and cache per request. */
export class PatientRepository {
  private readonly byId: DataLoader<string, Patient | null>;

  constructor(private readonly scope: RequestScope) {
    this.byId = new DataLoader(async (ids) => {
      const rows = await scope.prisma.patient.findMany({ where: { id: { in: [...ids] } } });
      const found = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => found.get(id) ?? null);
    });
  }

  findById(id: string): Promise<Patient | null> {
    return this.byId.load(id);
  }

  async findByMrn(mrn: string): Promise<Patient | null> {
    const patient = await this.scope.prisma.patient.findUnique({ where: { mrn } });
    if (patient) this.byId.prime(patient.id, patient);
    return patient;
  }

  async list(filter: PatientListFilter, first: number, after?: KeysetPosition): Promise<Connection<Patient>> {
    const where = listWhere(filter);
    const rows = await this.scope.prisma.patient.findMany({
      where: { AND: [where, afterPosition(after)] },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: first + 1,
    });
    for (const row of rows) this.byId.prime(row.id, row);
    return toConnection(rows, first, after, () => this.scope.prisma.patient.count({ where }));
  }

  create(data: Prisma.PatientCreateInput): Promise<Patient> {
    return this.scope.prisma.patient.create({ data });
  }

  update(id: string, data: Prisma.PatientUpdateInput): Promise<Patient> {
    this.byId.clear(id);
    return this.scope.prisma.patient.update({ where: { id }, data });
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
