import DataLoader from 'dataloader';
import { auditedTransaction } from '../audit/audited-transaction.ts';
import { jsonRows } from '../db/json-rows.ts';
import { notFound } from '../errors/errors.ts';
import { type Case, type CaseOutcome, type Prediction, Prisma, type ReviewDecision } from '../generated/prisma/client.ts';
import type { RequestScope } from '../server/request-scope.ts';

const asItem = (prediction: Pick<Prediction, 'id' | 'patientId'>) => ({ id: prediction.id, patientId: prediction.patientId });

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
export const casePredictionsJson = Prisma.sql`(
  SELECT coalesce(json_agg(${predictionRecords.array('p')} ORDER BY p."createdAt" DESC, p.id), '[]')
  FROM "Prediction" p WHERE p."caseId" = c.id)`;

/** What a new prediction stores. */
export type NewPrediction = Omit<Prisma.PredictionUncheckedCreateInput, 'id' | 'createdAt' | 'requestedBy'>;

/**
 * Predictions and case outcomes as one request may read and write them: the
 * clinical data of patients within reach, every read and write audited.
 */
export class PredictionRepository {
  private readonly byId: DataLoader<string, Prediction | null>;
  private readonly byCase: DataLoader<string, PredictionRecord[]>;
  private readonly outcomesByCase: DataLoader<string, CaseOutcome[]>;

  constructor(private readonly scope: RequestScope) {
    // Records looked up by id (before writes, too) come from the primary; the lists around them may come from a replica.
    const { prisma, replica } = scope;
    this.byId = new DataLoader(async (ids) => {
      const rows = await prisma.prediction.findMany({ where: { id: { in: [...ids] } } });
      return ids.map((id) => rows.find((row) => row.id === id) ?? null);
    });
    const { predictionsByCase } = scope.preloaded;
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
  async findById(id: string, permission: 'clinical.read' | 'clinical.write' = 'clinical.read', action = 'prediction.read'): Promise<Prediction | null> {
    this.scope.access.require(permission, action);
    const prediction = await this.byId.load(id);
    const breakGlass = await this.scope.access.requireRecord(permission, action, 'Prediction', id, prediction?.patientId);
    if (prediction && breakGlass && permission === 'clinical.read') this.scope.trail.read('prediction.read', 'Prediction', [asItem(prediction)], breakGlass);
    return prediction;
  }

  async listForCase(episode: Case): Promise<PredictionRecord[]> {
    const breakGlass = await this.scope.access.requirePatients('clinical.read', 'prediction.read', [episode.patientId], 'Case', [episode.id]);
    const rows = await this.byCase.load(episode.id);
    this.scope.trail.read('prediction.read', 'Prediction', rows.map(asItem), breakGlass);
    return rows;
  }

  /** The whole row of a prediction this request has read (and audited) already, through a list or by id. */
  async whole(prediction: PredictionRecord): Promise<Prediction> {
    if (prediction.input !== undefined && prediction.explanation !== undefined) return prediction as Prediction;
    const row = await this.byId.load(prediction.id);
    if (!row) throw notFound('Prediction not found.');
    return row;
  }

  async outcomes(episode: Case): Promise<CaseOutcome[]> {
    const breakGlass = await this.scope.access.requirePatients('clinical.read', 'outcome.read', [episode.patientId], 'Case', [episode.id]);
    const rows = await this.outcomesByCase.load(episode.id);
    this.scope.trail.read('outcome.read', 'Case', [{ id: episode.id, patientId: episode.patientId }], breakGlass);
    return rows;
  }

  /** Checks the role for making predictions (before work on many cases starts). */
  requireRoleToPredict(): void {
    this.scope.access.require('clinical.write', 'prediction.create');
  }

  /** Stores a prediction on a case of a patient within reach. */
  async create(data: NewPrediction): Promise<Prediction> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'prediction.create', [data.patientId], 'Case', [data.caseId]);
    const created = await auditedTransaction(
      this.scope,
      (tx) => tx.prediction.create({ data: { ...data, requestedBy: this.scope.access.subject } }),
      (row) => [entry('prediction.create', row, breakGlass.has(row.patientId))],
    );
    this.byId.prime(created.id, created);
    return created;
  }

  async setExplanation(prediction: Prediction, explanation: object): Promise<Prediction> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'prediction.explain', [prediction.patientId], 'Prediction', [prediction.id]);
    this.byId.clear(prediction.id);
    return auditedTransaction(
      this.scope,
      (tx) => tx.prediction.update({ where: { id: prediction.id }, data: { explanation } }),
      (row) => [entry('prediction.explain', row, breakGlass.has(row.patientId))],
    );
  }

  async review(prediction: Prediction, decision: ReviewDecision, note: string | null): Promise<Prediction> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'prediction.review', [prediction.patientId], 'Prediction', [prediction.id]);
    this.byId.clear(prediction.id);
    return auditedTransaction(
      this.scope,
      (tx) =>
        tx.prediction.update({
          where: { id: prediction.id },
          data: { reviewDecision: decision, reviewNote: note, reviewedBy: this.scope.access.subject, reviewedAt: new Date() },
        }),
      (row) => [{ ...entry('prediction.review', row, breakGlass.has(row.patientId)), reason: decision }],
    );
  }

  /** Records (or corrects) the truth about a case for one target. */
  async recordOutcome(episode: Case, outcome: { target: string; label: string | null; value: number | null }): Promise<CaseOutcome> {
    const breakGlass = await this.scope.access.requirePatients('clinical.write', 'outcome.record', [episode.patientId], 'Case', [episode.id]);
    this.outcomesByCase.clear(episode.id);
    const data = { ...outcome, recordedBy: this.scope.access.subject, recordedAt: new Date() };
    return auditedTransaction(
      this.scope,
      (tx) =>
        tx.caseOutcome.upsert({
          where: { caseId_target: { caseId: episode.id, target: outcome.target } },
          create: { caseId: episode.id, patientId: episode.patientId, ...data },
          update: data,
        }),
      (row) => [
        {
          action: 'outcome.record',
          outcome: 'SUCCESS',
          resourceType: 'CaseOutcome',
          resourceIds: [row.id],
          patientIds: [episode.patientId],
          breakGlass: breakGlass.has(episode.patientId),
        },
      ],
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

function entry(action: string, prediction: Prediction, breakGlass: boolean) {
  return {
    action,
    outcome: 'SUCCESS' as const,
    resourceType: 'Prediction',
    resourceIds: [prediction.id],
    patientIds: [prediction.patientId],
    breakGlass,
  };
}
