import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { type AccessRule, type Owner, patientOwner } from '../access/owned-record-store.ts';
import { ByIdWithinReach } from '../access/by-id-within-reach.ts';
import type { Scope } from '../access/scope.ts';
import type { PatientAlong } from '../patients/patient.repository.ts';
import { insertRowsSql } from '../db/insert-rows.ts';
import { jsonRows } from '../db/json-rows.ts';
import { type ConsentStatus, type Case, type CaseImage, type Observation, Prisma } from '../generated/prisma/client.ts';

export type { Case, CaseImage, Observation };

/** When a case's episode began: as its source recorded it, else when it was opened here. */
export const caseStart = (episode: Case): Date => episode.startedAt ?? episode.openedAt;
/** When a case's episode ended: as its source recorded it, else when it was closed here; null while open. */
export const caseEnd = (episode: Case): Date | null => episode.endedAt ?? episode.closedAt;

/** What a new observation stores (the case and id are the repository's to set; the time defaults to now). */
export type NewObservation = Pick<Observation, 'code' | 'value' | 'text' | 'unit'> & { observedAt?: Date };
/** What a new image stores. */
export type NewImage = Pick<CaseImage, 'code' | 'width' | 'height' | 'pixels'> & { observedAt?: Date };

/** A case a prediction is made on, with what its input is built from. */
export interface CaseWithInputs {
  episode: Case;
  observations: Observation[];
  images: CaseImage[];
  aiConsent: ConsentStatus;
  /** What the statement selected along for the caller (findWithInputs), as PostgreSQL answered it. */
  along: unknown;
}

/** SQL of another domain's that a case's statement selects along (findWithInputs). */
export type AlongColumn = Prisma.Sql;

/** What a prediction's case read brings along: the latest observation of each code in the case and its images, or the patient's observation history (sequence models). */
export type PredictionInputs = 'case' | 'patient-history';

/** Groups rows by a key, in the order of the keys asked for (what a DataLoader batch returns). */
function groupBy<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>(keys.map((key) => [key, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(row);
  return keys.map((key) => groups.get(key)!);
}

const asItem = (episode: Case) => ({ id: episode.id, patientId: episode.patientId });
const caseOwner = (episode: Case): Owner => ({ resourceType: 'Case', id: episode.id, patientId: episode.patientId });
const rule = (permission: 'clinical.read' | 'clinical.write' | 'prediction.write', action: AccessRule['action'], resourceType: string): AccessRule => ({ permission, action, resourceType });

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

const imageRows = jsonRows<CaseImage>(Object.values(Prisma.CaseImageScalarFieldEnum), ['observedAt']);
/** The columns a new row sets (createdAt takes its default). */
const observationColumns = ['id', 'caseId', 'code', 'value', 'text', 'unit', 'observedAt'] as const;
const imageColumns = ['id', 'caseId', 'code', 'width', 'height', 'pixels', 'observedAt'] as const;

/** SQL: each case's observations (the case aliased `c`) as one JSON array, in the order lists use. */
const caseObservationsJson = Prisma.sql`(
  SELECT coalesce(json_agg(${observationRows.array('o')} ORDER BY o."observedAt", o.id), '[]') FROM "Observation" o WHERE o."caseId" = c.id)`;
/**
 * SQL: the latest observation of each code in the case (the case aliased `c`;
 * of equal times, the one a list shows last), as one JSON array: all a
 * tabular model reads of it, so a prediction's cost does not grow with the
 * length of the case's record.
 */
const caseLatestObservationsJson = Prisma.sql`(
  SELECT coalesce(json_agg(${observationRows.array('o')} ORDER BY o."observedAt", o.id), '[]')
  FROM (SELECT DISTINCT ON (l.code) l.* FROM "Observation" l WHERE l."caseId" = c.id ORDER BY l.code, l."observedAt" DESC, l.id DESC) o)`;
/** SQL: every observation of the case's patient (the case aliased `c`), across their cases, as one JSON array in time order. */
const patientObservationsJson = Prisma.sql`(
  SELECT coalesce(json_agg(${observationRows.array('o')} ORDER BY o."observedAt", o.id), '[]')
  FROM "Observation" o JOIN "Case" pc ON pc.id = o."caseId" WHERE pc."patientId" = c."patientId")`;
/** SQL: each case's images (the case aliased `c`) as one JSON array, in the order lists use. */
const caseImagesJson = Prisma.sql`(
  SELECT coalesce(json_agg(${imageRows.array('i')} ORDER BY i."observedAt", i.id), '[]') FROM "CaseImage" i WHERE i."caseId" = c.id)`;

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

/** Whole case rows as JSON arrays. */
const caseRows = jsonRows<Case>(Object.values(Prisma.CaseScalarFieldEnum), ['openedAt', 'startedAt', 'closedAt', 'endedAt']);

/** A case a patient's read brought along: its columns, then its observations' and predictions' arrays (NULL when not brought). */
type CaseAlong = [unknown[], unknown[][] | null, unknown[][] | null];

/** A case row as a write looks it up, with a prediction's inputs when asked for (NULL otherwise). */
type CaseRow = Case & { aiConsent: ConsentStatus | null; observationsJson: unknown[][] | null; imagesJson: unknown[][] | null; along: unknown };

function decodeCaseRow({ aiConsent, observationsJson, imagesJson, along, ...episode }: CaseRow) {
  return { episode, aiConsent, observations: observationsJson?.map(observationRows.decode), images: imagesJson?.map(imageRows.decode), along };
}

/**
 * Cases, their observations and images as one request may read and write
 * them. Clinical data: only clinicians on the patient's care team (or with
 * break-glass access) reach it; every read and write is audited.
 */
export class CaseRepository {
  private readonly byId: ByIdWithinReach<Case>;
  /** Cases by patient, one loader per combination of children brought along. */
  private readonly byPatient = new Map<string, DataLoader<string, Case[]>>();
  /** Cases that patients' reads brought along (alongPatient), by patient, with the children they hold. */
  private readonly broughtAlong = new Map<string, { children: CaseChildren; cases: CaseAlong[] }>();
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
  findById(id: string): Promise<Case | null> {
    return this.scope.records.find(rule('clinical.read', 'case.read', 'Case'), [id], (within) => this.byId.load('clinical.read', within, id), asItem);
  }

  /**
   * A case a write is about, looked up and checked in one statement (its
   * write then needs no access lookup); audited as that write, not as a read.
   */
  async findForWrite(id: string, action: AccessRule['action']): Promise<Case | null> {
    const found = await this.scope.records.findForWrite<CaseRow>(rule('clinical.write', action, 'Case'), [id], (reach) => this.queryForWrite(id, reach, null));
    return found && decodeCaseRow(found).episode;
  }

  /**
   * A case a prediction is made on, with its inputs as they are now on the
   * primary (a prediction must not act on a replica's lagging copy) and its
   * patient's AI consent, looked up and checked in one statement. The inputs
   * are the latest observation of each code in the case and its images
   * (audited as a read of the case's observations), or for a sequence model the patient's observations across
   * all their cases in time order, without images (audited as a read of the
   * patient's observations, under the same access rule).
   * @param along a column of another domain's to select in the same statement (the prediction's model version), answered in `along`
   */
  async findWithInputs(id: string, action: AccessRule['action'], inputs: PredictionInputs, along?: AlongColumn): Promise<CaseWithInputs | null> {
    const found = await this.scope.records.findForWrite<CaseRow>(
      rule('prediction.write', action, 'Case'),
      [id],
      (reach) => this.queryForWrite(id, reach, inputs, along),
      rule('clinical.read', 'observation.read', inputs === 'patient-history' ? 'Patient' : 'Case'),
    );
    if (!found) return null;
    const { episode, observations, images, aiConsent, along: answer } = decodeCaseRow(found);
    return { episode, observations: observations!, images: images ?? [], aiConsent: aiConsent!, along: answer };
  }

  private async queryForWrite(
    id: string,
    reach: { within: Prisma.Sql; breakGlass: Prisma.Sql },
    inputs: PredictionInputs | null,
    along?: AlongColumn,
  ): Promise<(CaseRow & { breakGlass: boolean }) | null> {
    const none = Prisma.sql`NULL`;
    const observations = inputs === 'case' ? caseLatestObservationsJson : inputs === 'patient-history' ? patientObservationsJson : none;
    const [row] = await this.scope.prisma.$queryRaw<(CaseRow & { breakGlass: boolean })[]>`
      SELECT ${caseColumns}, ${reach.breakGlass} AS "breakGlass",
        ${inputs ? Prisma.sql`(SELECT p."aiConsent"::text FROM "Patient" p WHERE p.id = c."patientId")` : none} AS "aiConsent",
        ${observations} AS "observationsJson",
        ${inputs === 'case' ? caseImagesJson : none} AS "imagesJson",
        ${along ?? none} AS "along"
      FROM "Case" c WHERE c.id = ${id}::uuid AND ${reach.within}`;
    return row ?? null;
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

  /**
   * The patient's cases, with the children selected under them, for a
   * patient's read to bring along in its own statement (PatientAlong);
   * listForPatient then checks, audits and hands them out with no statement
   * of its own. Undefined where they are read on their own: from a read
   * replica when there is one, or not at all for a role that may not read them.
   */
  alongPatient(children: CaseChildren): PatientAlong | undefined {
    const { access, prisma, replica } = this.scope;
    if (replica !== prisma || !access.reach('clinical.read')) return undefined;
    const none = Prisma.sql`NULL`;
    return {
      key: `cases:${children.observations}:${children.predictions}`,
      sql: Prisma.sql`(
        SELECT coalesce(json_agg(json_build_array(${caseRows.array('c')}, ${children.observations ? caseObservationsJson : none}, ${children.predictions ? this.predictions.sql : none})
          ORDER BY c."openedAt" DESC, c.id), '[]')
        FROM "Case" c WHERE c."patientId" = p.id)`,
      keep: (patientId, cases) => this.broughtAlong.set(patientId, { children, cases: cases as CaseAlong[] }),
    };
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

  /** Cases of patients with their selected children, handing the children to their loaders; those a patient's read brought along are not read again. */
  private async loadCasesOf(patientIds: readonly string[], children: CaseChildren): Promise<Case[][]> {
    const covers = (held: CaseChildren) => (held.observations || !children.observations) && (held.predictions || !children.predictions);
    const broughtFor = (patientId: string) => {
      const brought = this.broughtAlong.get(patientId);
      return brought && covers(brought.children) ? brought.cases : undefined;
    };
    const along = patientIds.flatMap((id) => broughtFor(id) ?? []);
    const missing = patientIds.filter((id) => !broughtFor(id));
    const none = Prisma.sql`NULL`;
    const rows =
      missing.length === 0
        ? []
        : await this.scope.replica.$queryRaw<CaseWithChildren[]>`
      SELECT ${caseColumns},
        ${children.observations ? caseObservationsJson : none} AS "observationsJson",
        ${children.predictions ? this.predictions.sql : none} AS "predictionsJson"
      FROM "Case" c WHERE c."patientId" = ANY(${missing}::uuid[])
      ORDER BY c."openedAt" DESC, c.id`;
    const cases = [
      ...along.map(([values, observationsJson, predictionsJson]) => this.adopt(caseRows.decode(values), observationsJson, predictionsJson)),
      ...rows.map(({ observationsJson, predictionsJson, ...episode }) => this.adopt(episode, observationsJson, predictionsJson)),
    ];
    return groupBy(patientIds, cases, (row) => row.patientId);
  }

  /** A case of a list, whose children read along go to their loaders. */
  private adopt(episode: Case, observationsJson: unknown[][] | null, predictionsJson: unknown[][] | null): Case {
    // These cases' patients were checked for reading before this load, so the reading loader may keep them.
    this.byId.prime('clinical.read', episode);
    if (observationsJson) this.observationsByCase.prime(episode.id, observationsJson.map(observationRows.decode));
    if (predictionsJson) this.predictions.keep(episode.id, predictionsJson);
    return episode;
  }

  observations(episode: Case): Promise<Observation[]> {
    return this.scope.records.read(rule('clinical.read', 'observation.read', 'Case'), caseOwner(episode), () => this.observationsByCase.load(episode.id));
  }

  images(episode: Case): Promise<CaseImage[]> {
    return this.scope.records.read(rule('clinical.read', 'image.read', 'Case'), caseOwner(episode), () => this.imagesByCase.load(episode.id));
  }

  open(data: { patientId: string; title: string; startedAt: Date | null }): Promise<Case> {
    return this.scope.records.write(rule('clinical.write', 'case.open', 'Case'), [patientOwner(data.patientId)], (tx) => tx.case.create({ data }), (episode) => ({
      resourceIds: [episode.id],
    }));
  }

  /** Changes a case's title or the time its episode began (an imported Encounter's conditional update). */
  update(episode: Case, changes: { title?: string; startedAt?: Date }): Promise<Case> {
    this.byId.forget(episode.id);
    return this.scope.records.write(rule('clinical.write', 'case.update', 'Case'), [caseOwner(episode)], (tx) => tx.case.update({ where: { id: episode.id }, data: changes }), (updated) => ({
      resourceIds: [updated.id],
      reason: `changed=${Object.keys(changes).sort().join(',')}`,
    }));
  }

  /**
   * Closes an open case; returns null when it was not open (checked and changed in one statement).
   * @param endedAt when the episode ended as its source recorded it (an imported Encounter's period.end); null: now, at closing
   */
  async close(episode: Case, endedAt: Date | null = null): Promise<Case | null> {
    this.byId.forget(episode.id);
    const closed = await this.scope.records.write(
      rule('clinical.write', 'case.close', 'Case'),
      [caseOwner(episode)],
      async (tx) => {
        const { count } = await tx.case.updateMany({
          where: { id: episode.id, status: 'OPEN' },
          data: { status: 'CLOSED', closedAt: new Date(), endedAt },
        });
        return count === 1 ? tx.case.findUniqueOrThrow({ where: { id: episode.id } }) : null;
      },
      (result) => (result ? { resourceIds: [result.id] } : null),
    );
    return closed;
  }

  /** Adds observations all or none; null when the case is not open. */
  async addObservations(episode: Case, observations: NewObservation[]): Promise<Observation[] | null> {
    this.observationsByCase.clear(episode.id);
    const rows = observations.map((row) => ({ id: randomUUID(), caseId: episode.id, code: row.code, value: row.value, text: row.text, unit: row.unit, observedAt: row.observedAt ?? new Date() }));
    const added = await this.whileOpen(rule('clinical.write', 'observation.create', 'Observation'), episode, 'Observation', observationColumns, rows, observationRows);
    if (!added) return null;
    // In the order given (callers pair them with what they sent, e.g. an import's codings): RETURNING promises no order.
    const byId = new Map(added.map(({ row }) => observationRows.decode(row)).map((observation) => [observation.id, observation]));
    return rows.map((row) => byId.get(row.id)!);
  }

  /** Adds an image; null when the case is not open. */
  async addImage(episode: Case, image: NewImage): Promise<CaseImage | null> {
    this.imagesByCase.clear(episode.id);
    const row = { id: randomUUID(), caseId: episode.id, ...image, observedAt: image.observedAt ?? new Date() };
    const added = await this.whileOpen(rule('clinical.write', 'image.create', 'CaseImage'), episode, 'CaseImage', imageColumns, [row], imageRows);
    return added && imageRows.decode(added[0]!.row);
  }

  /**
   * Inserts rows of an open case with their audit record in one statement
   * that holds the case row share-locked, so a concurrent close (an update)
   * cannot slip between the check and the write, while writes to the same
   * case do not wait on each other.
   * @returns the rows as stored, as JSON arrays of `returned`'s columns; null when the case is not open
   */
  private async whileOpen(
    access: AccessRule,
    episode: Case,
    table: string,
    columns: readonly string[],
    rows: { id: string }[],
    returned: { array(alias: string): Prisma.Sql },
  ): Promise<{ row: unknown[] }[] | null> {
    const open = Prisma.sql`EXISTS (SELECT 1 FROM "Case" WHERE id = ${episode.id}::uuid AND status = 'OPEN' FOR SHARE)`;
    const written = await this.scope.records.insert<{ row: unknown[] }>(
      access,
      [caseOwner(episode)],
      insertRowsSql(table, columns, rows, { where: open, returning: Prisma.sql`${returned.array(`"${table}"`)} AS row` }),
      { resourceIds: rows.map((row) => row.id) },
    );
    return written.length > 0 ? written : null;
  }
}
