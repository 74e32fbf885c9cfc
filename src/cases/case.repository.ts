import DataLoader from 'dataloader';
import { auditedTransaction } from '../audit/audited-transaction.ts';
import { jsonRows } from '../db/json-rows.ts';
import { type Case, type CaseImage, type Observation, Prisma } from '../generated/prisma/client.ts';
import { casePredictionsJson, predictionRecords } from '../predictions/prediction.repository.ts';
import type { RequestScope } from '../server/request-scope.ts';

/** Groups rows by a key, in the order of the keys asked for (what a DataLoader batch returns). */
function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key)!);
}

const asItem = (episode: Case) => ({ id: episode.id, patientId: episode.patientId });

/**
 * What a case list brings along in its own statement: the children the client
 * selected under it. A patient's detail (cases, their observations and
 * predictions) is then one round trip instead of one per level.
 */
export interface CaseChildren {
  observations: boolean;
  predictions: boolean;
}

const observationRows = jsonRows<Observation>(Object.values(Prisma.ObservationScalarFieldEnum), ['observedAt', 'createdAt']);

/** SQL: each case's observations (the case aliased `c`) as one JSON array, in the order lists use. */
const caseObservationsJson = Prisma.sql`(
  SELECT coalesce(json_agg(${observationRows.array('o')} ORDER BY o."observedAt", o.id), '[]') FROM "Observation" o WHERE o."caseId" = c.id)`;

/** SQL: the case's own columns, named (a prepared `c.*` would fail once a migration adds a column). */
const caseColumns = Prisma.raw(Object.values(Prisma.CaseScalarFieldEnum).map((column) => `c."${column}"`).join(', '));

/** A case row with the JSON arrays of its children, when asked for (NULL otherwise). */
type CaseWithChildren = Case & { observationsJson: unknown[][] | null; predictionsJson: unknown[][] | null };

/**
 * Cases, their observations and images as one request may read and write
 * them. Clinical data: only clinicians on the patient's care team (or with
 * break-glass access) reach it; every read and write is audited.
 */
export class CaseRepository {
  private readonly byId: DataLoader<string, Case | null>;
  /** Cases by patient, one loader per combination of children brought along. */
  private readonly byPatient = new Map<string, DataLoader<string, Case[]>>();
  private readonly observationsByCase: DataLoader<string, Observation[]>;
  private readonly imagesByCase: DataLoader<string, CaseImage[]>;

  constructor(private readonly scope: RequestScope) {
    // Records looked up by id (before writes, too) come from the primary; the lists around them may come from a replica.
    const { prisma, replica } = scope;
    this.byId = new DataLoader(async (ids) => {
      const rows = await prisma.case.findMany({ where: { id: { in: [...ids] } } });
      const found = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.observationsByCase = new DataLoader(async (caseIds) => {
      const rows = await replica.observation.findMany({
        where: { caseId: { in: [...caseIds] } },
        orderBy: [{ observedAt: 'asc' }, { id: 'asc' }],
      });
      return groupBy(caseIds, rows, (row) => row.caseId);
    });
    this.imagesByCase = new DataLoader(async (caseIds) => {
      const rows = await replica.caseImage.findMany({
        where: { caseId: { in: [...caseIds] } },
        orderBy: [{ observedAt: 'asc' }, { id: 'asc' }],
      });
      return groupBy(caseIds, rows, (row) => row.caseId);
    });
  }

  /** A case, when its patient is within reach (for a clinician, an unknown case is FORBIDDEN too). */
  async findById(id: string, permission: 'clinical.read' | 'clinical.write' = 'clinical.read', action = 'case.read'): Promise<Case | null> {
    this.scope.access.require(permission, action);
    const episode = await this.byId.load(id);
    const breakGlass = await this.scope.access.requireRecord(permission, action, 'Case', id, episode?.patientId);
    // A write that looks its case up is audited as that write, not as a read.
    if (episode && breakGlass && permission === 'clinical.read') this.scope.trail.read('case.read', 'Case', [asItem(episode)], breakGlass);
    return episode;
  }

  /** A patient's cases, newest first, with the children a client selected loaded in the same statement. */
  async listForPatient(patientId: string, children: CaseChildren): Promise<Case[]> {
    const breakGlass = await this.scope.access.requirePatients('clinical.read', 'case.read', [patientId]);
    const cases = await this.casesOf(children).load(patientId);
    this.scope.trail.read('case.read', 'Case', cases.map(asItem), breakGlass);
    return cases;
  }

  private casesOf(children: CaseChildren): DataLoader<string, Case[]> {
    const key = `${children.observations}:${children.predictions}`;
    let loader = this.byPatient.get(key);
    if (!loader) this.byPatient.set(key, (loader = new DataLoader((patientIds) => this.loadCasesOf(patientIds, children))));
    return loader;
  }

  /** Cases of patients with their selected children, handing the children to their loaders. */
  private async loadCasesOf(patientIds: readonly string[], children: CaseChildren): Promise<Case[][]> {
    const none = Prisma.sql`NULL`;
    const rows = await this.scope.replica.$queryRaw<CaseWithChildren[]>`
      SELECT ${caseColumns},
        ${children.observations ? caseObservationsJson : none} AS "observationsJson",
        ${children.predictions ? casePredictionsJson : none} AS "predictionsJson"
      FROM "Case" c WHERE c."patientId" = ANY(${[...patientIds]}::uuid[])
      ORDER BY c."openedAt" DESC, c.id`;
    const cases = rows.map(({ observationsJson, predictionsJson, ...episode }) => {
      this.byId.prime(episode.id, episode);
      if (observationsJson) this.observationsByCase.prime(episode.id, observationsJson.map(observationRows.decode));
      if (predictionsJson) this.scope.preloaded.predictionsByCase.set(episode.id, predictionsJson.map(predictionRecords.decode));
      return episode;
    });
    return groupBy(patientIds, cases, (row) => row.patientId);
  }

  async observations(episode: Case): Promise<Observation[]> {
    const breakGlass = await this.scope.access.requirePatients('clinical.read', 'observation.read', [episode.patientId], 'Case', [episode.id]);
    const rows = await this.observationsByCase.load(episode.id);
    this.scope.trail.read('observation.read', 'Case', [asItem(episode)], breakGlass);
    return rows;
  }

  async images(episode: Case): Promise<CaseImage[]> {
    const breakGlass = await this.scope.access.requirePatients('clinical.read', 'image.read', [episode.patientId], 'Case', [episode.id]);
    const rows = await this.imagesByCase.load(episode.id);
    this.scope.trail.read('image.read', 'Case', [asItem(episode)], breakGlass);
    return rows;
  }

  /**
   * A case's observations and images as they are now on the primary, for
   * work that must not act on a replica's lagging copy (a prediction's input).
   */
  async currentInputs(episode: Case): Promise<{ observations: Observation[]; images: CaseImage[] }> {
    const breakGlass = await this.scope.access.requirePatients('clinical.read', 'observation.read', [episode.patientId], 'Case', [episode.id]);
    const where = { caseId: episode.id };
    const order = [{ observedAt: 'asc' as const }, { id: 'asc' as const }];
    const [observations, images] = await Promise.all([
      this.scope.prisma.observation.findMany({ where, orderBy: order }),
      this.scope.prisma.caseImage.findMany({ where, orderBy: order }),
    ]);
    this.scope.trail.read('observation.read', 'Case', [asItem(episode)], breakGlass);
    return { observations, images };
  }

  async open(data: { patientId: string; title: string }): Promise<Case> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'case.open', [data.patientId]);
    return auditedTransaction(this.scope, (tx) => tx.case.create({ data }), (episode) => [
      caseEntry('case.open', episode, breakGlass),
    ]);
  }

  /** Closes an open case; returns null when it was not open (checked and changed in one statement). */
  async close(episode: Case): Promise<Case | null> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'case.close', [episode.patientId], 'Case', [episode.id]);
    this.byId.clear(episode.id);
    const closed = await auditedTransaction(
      this.scope,
      async (tx) => {
        const { count } = await tx.case.updateMany({
          where: { id: episode.id, status: 'OPEN' },
          data: { status: 'CLOSED', closedAt: new Date() },
        });
        return count === 1 ? tx.case.findUniqueOrThrow({ where: { id: episode.id } }) : null;
      },
      (result) => (result ? [caseEntry('case.close', result, breakGlass)] : []),
    );
    if (closed) this.byId.prime(closed.id, closed);
    return closed;
  }

  /** Adds observations all or none; null when the case is not open. */
  async addObservations(episode: Case, observations: Omit<Prisma.ObservationCreateManyInput, 'caseId'>[]): Promise<Observation[] | null> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'observation.create', [episode.patientId], 'Case', [episode.id]);
    this.observationsByCase.clear(episode.id);
    return this.whileOpen(
      episode,
      (tx) => tx.observation.createManyAndReturn({ data: observations.map((row) => ({ ...row, caseId: episode.id })) }),
      (rows) => ({ action: 'observation.create', resourceType: 'Observation', resourceIds: rows.map((row) => row.id), breakGlass }),
    );
  }

  /** Adds an image; null when the case is not open. */
  async addImage(episode: Case, image: Omit<Prisma.CaseImageCreateManyInput, 'caseId'>): Promise<CaseImage | null> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'image.create', [episode.patientId], 'Case', [episode.id]);
    this.imagesByCase.clear(episode.id);
    return this.whileOpen(
      episode,
      (tx) => tx.caseImage.create({ data: { ...image, caseId: episode.id } }),
      (row) => ({ action: 'image.create', resourceType: 'CaseImage', resourceIds: [row.id], breakGlass }),
    );
  }

  /**
   * Runs a write in a transaction that holds the case row locked while open, so
   * a concurrent close cannot slip between the check and the write; the audit
   * record commits with it.
   */
  private async whileOpen<T>(
    episode: Case,
    write: (tx: Prisma.TransactionClient) => Promise<T>,
    describe: (result: T) => { action: string; resourceType: string; resourceIds: string[]; breakGlass: Set<string> },
  ): Promise<T | null> {
    return auditedTransaction(
      this.scope,
      async (tx) => {
        const [open] = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM "Case" WHERE id = ${episode.id}::uuid AND status = 'OPEN' FOR UPDATE`;
        return open ? write(tx) : null;
      },
      (result) => {
        if (result === null) return [];
        const { breakGlass, ...entry } = describe(result);
        return [{ ...entry, outcome: 'SUCCESS', patientIds: [episode.patientId], breakGlass: breakGlass.has(episode.patientId) }];
      },
    );
  }
}

function caseEntry(action: string, episode: Case, breakGlass: Set<string>) {
  return {
    action,
    outcome: 'SUCCESS' as const,
    resourceType: 'Case',
    resourceIds: [episode.id],
    patientIds: [episode.patientId],
    breakGlass: breakGlass.has(episode.patientId),
  };
}
