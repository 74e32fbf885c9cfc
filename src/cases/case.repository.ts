import DataLoader from 'dataloader';
import type { Case, CaseImage, Observation, Prisma } from '../generated/prisma/client.ts';
import type { RequestScope } from '../server/request-scope.ts';

/** Groups rows by a key, in the order of the keys asked for (what a DataLoader batch returns). */
function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key)!);
}

/** Cases, their observations and images as one request may read and write them. */
export class CaseRepository {
  private readonly byId: DataLoader<string, Case | null>;
  private readonly byPatient: DataLoader<string, Case[]>;
  private readonly observationsByCase: DataLoader<string, Observation[]>;
  private readonly imagesByCase: DataLoader<string, CaseImage[]>;

  constructor(private readonly scope: RequestScope) {
    const { prisma } = scope;
    this.byId = new DataLoader(async (ids) => {
      const rows = await prisma.case.findMany({ where: { id: { in: [...ids] } } });
      const found = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.byPatient = new DataLoader(async (patientIds) => {
      const rows = await prisma.case.findMany({
        where: { patientId: { in: [...patientIds] } },
        orderBy: [{ openedAt: 'desc' }, { id: 'asc' }],
      });
      for (const row of rows) this.byId.prime(row.id, row);
      return groupBy(patientIds, rows, (row) => row.patientId);
    });
    this.observationsByCase = new DataLoader(async (caseIds) => {
      const rows = await prisma.observation.findMany({
        where: { caseId: { in: [...caseIds] } },
        orderBy: [{ observedAt: 'asc' }, { id: 'asc' }],
      });
      return groupBy(caseIds, rows, (row) => row.caseId);
    });
    this.imagesByCase = new DataLoader(async (caseIds) => {
      const rows = await prisma.caseImage.findMany({
        where: { caseId: { in: [...caseIds] } },
        orderBy: [{ observedAt: 'asc' }, { id: 'asc' }],
      });
      return groupBy(caseIds, rows, (row) => row.caseId);
    });
  }

  findById(id: string): Promise<Case | null> {
    return this.byId.load(id);
  }

  listForPatient(patientId: string): Promise<Case[]> {
    return this.byPatient.load(patientId);
  }

  observations(caseId: string): Promise<Observation[]> {
    return this.observationsByCase.load(caseId);
  }

  images(caseId: string): Promise<CaseImage[]> {
    return this.imagesByCase.load(caseId);
  }

  open(data: { patientId: string; title: string }): Promise<Case> {
    return this.scope.prisma.case.create({ data });
  }

  /** Closes an open case; returns null when it was not open (checked and changed in one statement). */
  async close(id: string): Promise<Case | null> {
    this.byId.clear(id);
    const { count } = await this.scope.prisma.case.updateMany({
      where: { id, status: 'OPEN' },
      data: { status: 'CLOSED', closedAt: new Date() },
    });
    return count === 1 ? this.byId.load(id) : null;
  }

  /** Adds observations all or none; null when the case is not open. */
  addObservations(
    caseId: string,
    observations: Omit<Prisma.ObservationCreateManyInput, 'caseId'>[],
  ): Promise<Observation[] | null> {
    this.observationsByCase.clear(caseId);
    return this.whileOpen(caseId, (tx) =>
      tx.observation.createManyAndReturn({ data: observations.map((row) => ({ ...row, caseId })) }),
    );
  }

  /** Adds an image; null when the case is not open. */
  addImage(caseId: string, image: Omit<Prisma.CaseImageCreateManyInput, 'caseId'>): Promise<CaseImage | null> {
    this.imagesByCase.clear(caseId);
    return this.whileOpen(caseId, (tx) => tx.caseImage.create({ data: { ...image, caseId } }));
  }

  /**
   * Runs a write in a transaction that holds the case row locked while open, so
   * a concurrent close cannot slip between the check and the write.
   */
  private whileOpen<T>(caseId: string, write: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T | null> {
    return this.scope.prisma.$transaction(async (tx) => {
      const [open] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM "Case" WHERE id = ${caseId}::uuid AND status = 'OPEN' FOR UPDATE`;
      return open ? write(tx) : null;
    });
  }
}
