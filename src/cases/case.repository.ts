import DataLoader from 'dataloader';
import { type AccessRule, type Owner, patientOwner } from '../access/owned-record-store.ts';
import { ByIdWithinReach } from '../access/by-id-within-reach.ts';
import type { Scope } from '../access/scope.ts';
import { jsonRows } from '../db/json-rows.ts';
import { type Case, type CaseImage, type Observation, Prisma } from '../generated/prisma/client.ts';

export type { Case, CaseImage, Observation };

/** Groups rows by a key, in the order of the keys asked for (what a DataLoader batch returns). */
function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key)!);
}

const asItem = (episode: Case) => ({ id: episode.id, patientId: episode.patientId });
const caseOwner = (episode: Case): Owner => ({ resourceType: 'Case', id: episode.id, patientId: episode.patientId });
const rule = (permission: 'clinical.read' | 'clinical.write', action: AccessRule['action'], resourceType: string): AccessRule => ({ permission, action, resourceType });

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

/**
 * A list of another domain that a case list reads along in its own statement
 * (a case's predictions): its SQL as one JSON array per case (the case
 * aliased `c`), and where the rows go for that domain's repository, which
 * still checks access and audits what it hands out.
 */
export interface CaseChildList {
  sql: Prisma.Sql;
  keep(caseId: string, rows: unknown[][]): void;
}

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
  private readonly byId: ByIdWithinReach<Case>;
  /** Cases by patient, one loader per combination of children brought along. */
  private readonly byPatient = new Map<string, DataLoader<string, Case[]>>();
  private readonly observationsByCase: DataLoader<string, Observation[]>;
  private readonly imagesByCase: DataLoader<string, CaseImage[]>;

  constructor(
    private readonly scope: Scope,
    private readonly predictions: CaseChildList,
  ) {
    // Records looked up by id (before writes, too) come from the primary; the lists around them may come from a replica.
    const { prisma, replica } = scope;
    this.byId = new ByIdWithinReach((ids, within) => prisma.case.findMany({ where: { id: { in: ids }, patient: within } }));
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
  findById(id: string, permission: 'clinical.read' | 'clinical.write' = 'clinical.read', action: AccessRule['action'] = 'case.read'): Promise<Case | null> {
    // A write that looks its case up is audited as that write, not as a read.
    return this.scope.records.find(rule(permission, action, 'Case'), [id], (within) => this.byId.load(permission, within, id), asItem, permission === 'clinical.read');
  }

  /** An observation and its case, when the case's patient is within reach (for a care-team reach, an unknown one is FORBIDDEN too). */
  async findObservation(id: string): Promise<{ observation: Observation; episode: Case } | null> {
    const found = await this.scope.records.find(
      rule('clinical.read', 'observation.read', 'Observation'),
      [id],
      (within) => this.scope.prisma.observation.findFirst({ where: { id, case: { patient: within } }, include: { case: true } }),
      (row) => ({ id: row.id, patientId: row.case.patientId }),
    );
    if (!found) return null;
    const { case: episode, ...observation } = found;
    return { observation, episode };
  }

  /** A patient's cases, newest first, with the children a client selected loaded in the same statement. */
  listForPatient(patientId: string, children: CaseChildren): Promise<Case[]> {
    return this.scope.records.read(rule('clinical.read', 'case.read', 'Case'), patientOwner(patientId), () => this.casesOf(children).load(patientId), (cases) => cases.map(asItem));
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
        ${children.predictions ? this.predictions.sql : none} AS "predictionsJson"
      FROM "Case" c WHERE c."patientId" = ANY(${[...patientIds]}::uuid[])
      ORDER BY c."openedAt" DESC, c.id`;
    const cases = rows.map(({ observationsJson, predictionsJson, ...episode }) => {
      // These cases' patients were checked for reading before this load, so the reading loader may keep them.
      this.byId.prime('clinical.read', episode);
      if (observationsJson) this.observationsByCase.prime(episode.id, observationsJson.map(observationRows.decode));
      if (predictionsJson) this.predictions.keep(episode.id, predictionsJson);
      return episode;
    });
    return groupBy(patientIds, cases, (row) => row.patientId);
  }

  observations(episode: Case): Promise<Observation[]> {
    return this.scope.records.read(rule('clinical.read', 'observation.read', 'Case'), caseOwner(episode), () => this.observationsByCase.load(episode.id));
  }

  images(episode: Case): Promise<CaseImage[]> {
    return this.scope.records.read(rule('clinical.read', 'image.read', 'Case'), caseOwner(episode), () => this.imagesByCase.load(episode.id));
  }

  /**
   * A case's observations and images as they are now on the primary, for
   * work that must not act on a replica's lagging copy (a prediction's input).
   */
  currentInputs(episode: Case): Promise<{ observations: Observation[]; images: CaseImage[] }> {
    const where = { caseId: episode.id };
    const order = [{ observedAt: 'asc' as const }, { id: 'asc' as const }];
    return this.scope.records.read(rule('clinical.read', 'observation.read', 'Case'), caseOwner(episode), async () => {
      const [observations, images] = await Promise.all([
        this.scope.prisma.observation.findMany({ where, orderBy: order }),
        this.scope.prisma.caseImage.findMany({ where, orderBy: order }),
      ]);
      return { observations, images };
    });
  }

  open(data: { patientId: string; title: string; startedAt: Date | null }): Promise<Case> {
    return this.scope.records.write(rule('clinical.write', 'case.open', 'Case'), [patientOwner(data.patientId)], (tx) => tx.case.create({ data }), (episode) => ({
      resourceIds: [episode.id],
    }));
  }

  /** Closes an open case; returns null when it was not open (checked and changed in one statement). */
  async close(episode: Case): Promise<Case | null> {
    this.byId.forget(episode.id);
    const closed = await this.scope.records.write(
      rule('clinical.write', 'case.close', 'Case'),
      [caseOwner(episode)],
      async (tx) => {
        const { count } = await tx.case.updateMany({
          where: { id: episode.id, status: 'OPEN' },
          data: { status: 'CLOSED', closedAt: new Date() },
        });
        return count === 1 ? tx.case.findUniqueOrThrow({ where: { id: episode.id } }) : null;
      },
      (result) => (result ? { resourceIds: [result.id] } : null),
    );
    return closed;
  }

  /** Adds observations all or none; null when the case is not open. */
  addObservations(episode: Case, observations: Omit<Prisma.ObservationCreateManyInput, 'caseId'>[]): Promise<Observation[] | null> {
    this.observationsByCase.clear(episode.id);
    return this.whileOpen(
      rule('clinical.write', 'observation.create', 'Observation'),
      episode,
      (tx) => tx.observation.createManyAndReturn({ data: observations.map((row) => ({ ...row, caseId: episode.id })) }),
      (rows) => rows.map((row) => row.id),
    );
  }

  /** Adds an image; null when the case is not open. */
  addImage(episode: Case, image: Omit<Prisma.CaseImageCreateManyInput, 'caseId'>): Promise<CaseImage | null> {
    this.imagesByCase.clear(episode.id);
    return this.whileOpen(rule('clinical.write', 'image.create', 'CaseImage'), episode, (tx) => tx.caseImage.create({ data: { ...image, caseId: episode.id } }), (row) => [row.id]);
  }

  /**
   * Runs a write in a transaction that holds the case row locked while open, so
   * a concurrent close cannot slip between the check and the write; the audit
   * record commits with it.
   */
  private whileOpen<T>(
    access: AccessRule,
    episode: Case,
    write: (tx: Prisma.TransactionClient) => Promise<T>,
    stored: (result: T) => string[],
  ): Promise<T | null> {
    return this.scope.records.write(
      access,
      [caseOwner(episode)],
      async (tx) => {
        const [open] = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM "Case" WHERE id = ${episode.id}::uuid AND status = 'OPEN' FOR UPDATE`;
        return open ? write(tx) : null;
      },
      (result) => (result === null ? null : { resourceIds: stored(result) }),
    );
  }
}
