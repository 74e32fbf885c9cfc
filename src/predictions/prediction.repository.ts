import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { type AccessRule, type Owner } from '../access/owned-record-store.ts';
import { ByIdWithinReach } from '../access/by-id-within-reach.ts';
import type { Scope, ScopeSlot } from '../access/scope.ts';
import type { Case, CaseChildList } from '../cases/case.repository.ts';
import { insertRowsSql } from '../db/insert-rows.ts';
import { jsonRows } from '../db/json-rows.ts';
import { notFound } from '../errors/errors.ts';
import { type CaseOutcome, type Prediction, Prisma, type ReviewDecision } from '../generated/prisma/client.ts';

export type { CaseOutcome, Prediction, ReviewDecision };

const asItem = (prediction: Pick<Prediction, 'id' | 'patientId'>) => ({ id: prediction.id, patientId: prediction.patientId });
const caseOwner = (episode: Pick<Case, 'id' | 'patientId'>): Owner => ({ resourceType: 'Case', id: episode.id, patientId: episode.patientId });
const predictionOwner = (prediction: Prediction): Owner => ({ resourceType: 'Prediction', id: prediction.id, patientId: prediction.patientId });
const rule = (permission: 'prediction.read' | 'prediction.write', action: AccessRule['action'], resourceType: string): AccessRule => ({ permission, action, resourceType });

/**
 * A prediction as a case's list carries it: without its input snapshot and
 * explanation, the bulk of the row, which `whole` loads when a client asks.
 */
export type PredictionRecord = Omit<Prediction, 'input' | 'explanation'> & Partial<Pick<Prediction, 'input' | 'explanation'>>;

/** A case's predictions as JSON rows, their columns named (so PostgreSQL does not read the bulky ones at all). */
export const predictionRecords = jsonRows<PredictionRecord>(
  Object.values(Prisma.PredictionScalarFieldEnum).filter((field) => field !== 'input' && field !== 'explanation'),
  ['createdAt', 'reviewedAt'],
);

/**
 * SQL for a case list that brings its cases' predictions along (the case
 * aliased `c`): each case's list, newest first, as one JSON array of records.
 */
const casePredictionsJson = Prisma.sql`(
  SELECT coalesce(json_agg(${predictionRecords.array('p')} ORDER BY p."createdAt" DESC, p.id), '[]')
  FROM "Prediction" p WHERE p."caseId" = c.id)`;

/** A case list's predictions, read in the list's own statement, for this scope's prediction repository to hand out. */
const preloadedPredictions: ScopeSlot<Map<string, PredictionRecord[]>> = { create: () => new Map() };

/** The predictions a case list of this scope reads along (see CaseRepository). */
export const casePredictions = (scope: Scope): CaseChildList => ({
  sql: casePredictionsJson,
  keep: (caseId, rows) => scope.local(preloadedPredictions).set(caseId, rows.map(predictionRecords.decode)),
});

/** What a new prediction stores. */
export type NewPrediction = Pick<Prisma.PredictionUncheckedCreateInput, 'caseId' | 'patientId' | 'modelVersionId' | 'input' | 'output' | 'explanation' | 'qualityFlags' | 'latencyMs'>;

/** The columns a new prediction sets (the time takes its default; review columns start empty). */
const newPredictionColumns = ['id', 'caseId', 'patientId', 'modelVersionId', 'input', 'output', 'explanation', 'qualityFlags', 'requestedBy', 'latencyMs'] as const;
/** Whole prediction rows as JSON arrays. */
const predictionRows = jsonRows<Prediction>(Object.values(Prisma.PredictionScalarFieldEnum), ['createdAt', 'reviewedAt']);

/**
 * Predictions and case outcomes as one request may read and write them: the
 * clinical data of patients within reach, every read and write audited.
 */
export class PredictionRepository {
  /** Whole rows of predictions this scope read already (through a list or by id). */
  private readonly byId: DataLoader<string, Prediction | null>;
  private readonly byIdWithin: ByIdWithinReach<Prediction>;
  private readonly byCase: DataLoader<string, PredictionRecord[]>;
  private readonly outcomesByCase: DataLoader<string, CaseOutcome[]>;

  constructor(private readonly scope: Scope) {
    // Records looked up by id (before writes, too) come from the primary; the lists around them may come from a replica.
    const { prisma, replica } = scope;
    this.byId = new DataLoader(async (ids) => {
      const rows = await prisma.prediction.findMany({ where: { id: { in: [...ids] } } });
      return ids.map((id) => rows.find((row) => row.id === id) ?? null);
    });
    this.byIdWithin = new ByIdWithinReach((ids, within) => prisma.prediction.findMany({ where: { id: { in: ids }, case: { patient: within } } }));
    const predictionsByCase = scope.local(preloadedPredictions);
    this.byCase = new DataLoader(async (caseIds) => {
      const missing = caseIds.filter((id) => !predictionsByCase.has(id));
      const rows = missing.length === 0 ? [] : await replica.prediction.findMany({
        omit: { input: true, explanation: true },
        where: { caseId: { in: missing } },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      });
      return caseIds.map((id) => predictionsByCase.get(id) ?? rows.filter((row) => row.caseId === id));
    });
    this.outcomesByCase = new DataLoader(async (caseIds) => {
      const rows = await replica.caseOutcome.findMany({ where: { caseId: { in: [...caseIds] } }, orderBy: { target: 'asc' } });
      return caseIds.map((id) => rows.filter((row) => row.caseId === id));
    });
  }

  /** A prediction, when its patient is within reach (for a clinician, an unknown one is FORBIDDEN too). */
  async findById(id: string, permission: 'prediction.read' | 'prediction.write' = 'prediction.read', action: AccessRule['action'] = 'prediction.read'): Promise<Prediction | null> {
    // A write that looks its prediction up is audited as that write, not as a read.
    const prediction = await this.scope.records.find(rule(permission, action, 'Prediction'), [id], (within) => this.byIdWithin.load(permission, within, id), asItem, permission === 'prediction.read');
    if (prediction) this.byId.prime(prediction.id, prediction);
    return prediction;
  }

  private forget(id: string): void {
    this.byId.clear(id);
    this.byIdWithin.forget(id);
  }

  listForCase(episode: Case): Promise<PredictionRecord[]> {
    return this.scope.records.read(rule('prediction.read', 'prediction.read', 'Prediction'), caseOwner(episode), () => this.byCase.load(episode.id), (rows) => rows.map(asItem));
  }

  /** The whole row of a prediction this request has read (and audited) already, through a list or by id. */
  async whole(prediction: PredictionRecord): Promise<Prediction> {
    if (prediction.input !== undefined && prediction.explanation !== undefined) return prediction as Prediction;
    const row = await this.byId.load(prediction.id);
    if (!row) throw notFound('Prediction not found.');
    return row;
  }

  outcomes(episode: Case): Promise<CaseOutcome[]> {
    return this.scope.records.read(rule('prediction.read', 'outcome.read', 'Case'), caseOwner(episode), () => this.outcomesByCase.load(episode.id));
  }

  /** Checks the role for making predictions (before work on many cases starts). */
  requireRoleToPredict(): void {
    this.scope.access.require('prediction.write', 'prediction.create');
  }

  /**
   * Stores a prediction on a case of a patient within reach, with its audit
   * entry, in one statement (the access was decided when the case was read).
   */
  async create(data: NewPrediction): Promise<Prediction> {
    const row = { ...data, id: randomUUID(), requestedBy: this.scope.access.subject };
    const [created] = await this.scope.records.insert<{ row: unknown[] }>(
      rule('prediction.write', 'prediction.create', 'Prediction'),
      [caseOwner({ id: data.caseId, patientId: data.patientId })],
      insertRowsSql('Prediction', newPredictionColumns, [row], { returning: Prisma.sql`${predictionRows.array('"Prediction"')} AS row` }),
      { resourceIds: [row.id] },
    );
    const prediction = predictionRows.decode(created!.row);
    this.byId.prime(prediction.id, prediction);
    return prediction;
  }

  setExplanation(prediction: Prediction, explanation: object): Promise<Prediction> {
    this.forget(prediction.id);
    return this.scope.records.write(
      rule('prediction.write', 'prediction.explain', 'Prediction'),
      [predictionOwner(prediction)],
      (tx) => tx.prediction.update({ where: { id: prediction.id }, data: { explanation } }),
      (row) => ({ resourceIds: [row.id] }),
    );
  }

  review(prediction: Prediction, decision: ReviewDecision, note: string | null): Promise<Prediction> {
    this.forget(prediction.id);
    return this.scope.records.write(
      rule('prediction.write', 'prediction.review', 'Prediction'),
      [predictionOwner(prediction)],
      (tx) =>
        tx.prediction.update({
          where: { id: prediction.id },
          data: { reviewDecision: decision, reviewNote: note, reviewedBy: this.scope.access.subject, reviewedAt: new Date() },
        }),
      (row) => ({ resourceIds: [row.id], reason: decision }),
    );
  }

  /** Records (or corrects) the truth about a case for one target. */
  recordOutcome(episode: Case, outcome: { target: string; label: string | null; value: number | null }): Promise<CaseOutcome> {
    this.outcomesByCase.clear(episode.id);
    const data = { ...outcome, recordedBy: this.scope.access.subject, recordedAt: new Date() };
    return this.scope.records.write(
      rule('prediction.write', 'outcome.record', 'CaseOutcome'),
      [caseOwner(episode)],
      (tx) =>
        tx.caseOutcome.upsert({
          where: { caseId_target: { caseId: episode.id, target: outcome.target } },
          create: { caseId: episode.id, patientId: episode.patientId, ...data },
          update: data,
        }),
      (row) => ({ resourceIds: [row.id] }),
    );
  }

  /**
   * A version's predictions over a period with their reviews and the
   * outcomes of their cases, for aggregate monitoring figures only.
   */
  async forMonitoring(versionId: string, target: string, from: Date | undefined, to: Date | undefined) {
    this.scope.access.require('model.monitor', 'model.monitor');
    const rows = await this.scope.prisma.prediction.findMany({
      where: { modelVersionId: versionId, createdAt: { ...(from ? { gte: from } : {}), ...(to ? { lte: to } : {}) } },
      select: { input: true, output: true, reviewDecision: true, case: { select: { outcomes: { where: { target }, select: { label: true, value: true } } } } },
    });
    this.scope.trail.note({ action: 'model.monitor', resourceType: 'ModelVersion', resourceIds: [versionId] });
    return rows.map((row) => ({ input: row.input, output: row.output, reviewDecision: row.reviewDecision, outcome: row.case.outcomes[0] ?? null }));
  }
}
