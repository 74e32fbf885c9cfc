import { z } from 'zod';
import { recordingFailure } from '../access/audited-transaction.ts';
import type { Action } from '../access/permissions.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import type { Case } from '../cases/case.repository.ts';
import type { CaseService } from '../cases/case.service.ts';
import type { ConsentService } from '../consent/consent.service.ts';
import { badInput, ErrorCode, errorCode, notFound } from '../errors/errors.ts';
import type { OutcomeInput } from '../generated/graphql.ts';
import { boundedText, isId, parseId, parseInput } from '../graphql/validation.ts';
import type { ModelService } from '../models/model.service.ts';
import { storedResultOf } from '../models/stored-version.ts';
import { type ModelInput, PipelineError, type SequenceHistory, type ServingModel } from '../pipeline/index.ts';
import type { PatientService } from '../patients/patient.service.ts';
import { explain, type StoredExplanation } from './explanation.ts';
import type { ModelServer } from './model-server.ts';
import { performanceFigures } from './model-performance.ts';
import { buildCaseInput } from './prediction-input.ts';
import { explanationColumn, type InputValues, inputOf, modelInputOf, outputOf, predictionColumns } from './stored-prediction.ts';
import type { CaseOutcome, Prediction, PredictionRecord, PredictionRepository, ReviewDecision } from './prediction.repository.ts';

const modelName = boundedText(63);
const versionNumber = z.number().int().min(1).nullish();
const outcomeSchema = z
  .object({ target: boundedText(64), label: boundedText(64).nullish(), value: z.number().finite().nullish() })
  .refine((outcome) => (outcome.label == null) !== (outcome.value == null), { message: 'give exactly one of label or value' });

const caseTarget = (caseId: string) => ({ resourceType: 'Case', resourceIds: isId(caseId) ? [caseId] : [] });

/**
 * Predictions as a service: builds a model's input from a case, runs it
 * through the version's batcher, explains it, stores it with its input and
 * flags; reviews, outcomes and live performance figures.
 */
export class PredictionService {
  constructor(
    private readonly predictions: PredictionRepository,
    private readonly cases: CaseService,
    private readonly patients: PatientService,
    private readonly consent: ConsentService,
    private readonly models: ModelService,
    private readonly modelServer: ModelServer,
    private readonly trail: AuditTrail,
    private readonly cohortMax: number,
  ) {}

  get(id: string): Promise<Prediction | null> {
    return this.predictions.findById(parseId(id, 'id'));
  }

  forCase(episode: Case): Promise<PredictionRecord[]> {
    return this.predictions.listForCase(episode);
  }

  whole(prediction: PredictionRecord): Promise<Prediction> {
    return this.predictions.whole(prediction);
  }

  outcomes(episode: Case): Promise<CaseOutcome[]> {
    return this.predictions.outcomes(episode);
  }

  /**
   * Runs a model on one case; see the predict mutation. Its SQL is one
   * statement for the case, its access, inputs and consent and the model
   * version, and one for the prediction with its audit entry; the read of
   * the inputs is recorded with the request's other reads.
   * The inputs are the case's own, or for a sequence model the patient's
   * observation history: the model server's guess of which (what the
   * version last served for this model read) decides what the case's
   * statement brings; only a wrong guess (a model's first prediction in
   * this process, or a promotion that changed its kind) costs a second read.
   */
  predict(caseId: string, model: string, version: number | null | undefined, withExplanation = true): Promise<Prediction> {
    return recordingFailure(this.trail, 'prediction.create', caseTarget(caseId), async () => {
      const started = performance.now();
      // A bad model or version is answered after the case's answer, as when the two were read one after the other.
      const chosenVersion = this.models.versionForPrediction(() => [parseInput(modelName, model, 'model'), parseInput(versionNumber, version, 'version')]);
      const guess = this.modelServer.readsHistory(model, version ?? null);
      const read = await this.cases.requireWithInputs(caseId, 'caseId', 'prediction.create', guess ? 'patient-history' : 'case', chosenVersion.sql);
      this.consent.requireAiConsent({ id: read.episode.patientId, aiConsent: read.aiConsent });
      const chosen = await chosenVersion.resolve(read.along);
      const loaded = await this.modelServer.version(chosen.id);
      const sequence = loaded.serving.stored.sequence !== undefined;
      this.modelServer.noteReadsHistory(loaded.modelName, version ?? null, sequence);
      const { episode, observations, images } = sequence === guess ? read : await this.cases.requireWithInputs(caseId, 'caseId', 'prediction.create', sequence ? 'patient-history' : 'case');
      const input = buildCaseInput(loaded.serving.stored, observations, images);
      const modelInput = input.history ? { visits: input.history } : input.values;
      const encoded = encodeOne(loaded.serving, modelInput);
      const modelStarted = performance.now();
      const answer = await loaded.batcher.infer(encoded.row);
      const modelMs = performance.now() - modelStarted;
      const explanationStarted = performance.now();
      const explanation = withExplanation ? await explainOne(loaded.serving, modelInput) : null;
      const explanationMs = performance.now() - explanationStarted;
      const { warnings: _warnings, ...output } = answer;
      const { stored } = loaded.serving;
      return this.predictions.create({
        caseId: episode.id,
        patientId: episode.patientId,
        modelVersionId: chosen.id,
        ...predictionColumns({
          values: input.values,
          ...(input.history ? { history: input.history } : {}),
          output: { ...output, outcomeLabel: stored.outcomeLabel, threshold: stored.threshold, timings: { modelMs, explanationMs } },
          flags: { outOfDistribution: input.outOfDistribution, warnings: encoded.warnings, outOfDistributionScore: encoded.novelty },
          explanation,
        }),
        latencyMs: performance.now() - started,
      });
    });
  }

  /** Runs a model on several cases at once; each gets its prediction or its coded error. */
  async predictCohort(caseIds: string[], model: string, version: number | null | undefined, withExplanations = false) {
    this.predictions.requireRoleToPredict();
    if (caseIds.length === 0 || caseIds.length > this.cohortMax) {
      throw badInput(`Give 1 to ${this.cohortMax} case ids.`, { argument: 'caseIds', max: this.cohortMax });
    }
    const settled = await Promise.allSettled(caseIds.map((caseId) => this.predict(caseId, model, version, withExplanations)));
    return settled.map((result, i) => ({
      caseId: caseIds[i]!,
      prediction: result.status === 'fulfilled' ? result.value : null,
      error: result.status === 'rejected' ? cohortError(result.reason) : null,
    }));
  }

  /** Computes the explanation of an earlier prediction from its stored input, and stores it. */
  explainStored(id: string): Promise<Prediction> {
    return recordingFailure(this.trail, 'prediction.explain', { resourceType: 'Prediction', resourceIds: isId(id) ? [id] : [] }, async () => {
      const prediction = await this.requireForWrite(id, 'prediction.explain');
      this.consent.requireAiConsent(await this.patients.requireExisting(prediction.patientId));
      if (prediction.explanation) return prediction;
      const loaded = await this.modelServer.version(prediction.modelVersionId);
      return this.predictions.setExplanation(prediction, explanationColumn(await explainOne(loaded.serving, modelInputOf(prediction))));
    });
  }

  review(id: string, decision: ReviewDecision, note: string | null | undefined): Promise<Prediction> {
    return recordingFailure(this.trail, 'prediction.review', { resourceType: 'Prediction', resourceIds: isId(id) ? [id] : [] }, async () => {
      const prediction = await this.requireForWrite(id, 'prediction.review');
      return this.predictions.review(prediction, decision, parseInput(boundedText(1000).nullish(), note, 'note') ?? null);
    });
  }

  recordOutcome(caseId: string, outcome: OutcomeInput): Promise<CaseOutcome> {
    return recordingFailure(this.trail, 'outcome.record', caseTarget(caseId), async () => {
      const episode = await this.cases.requireForWrite(caseId, 'caseId', 'outcome.record');
      const parsed = parseInput(outcomeSchema, outcome, 'outcome');
      return this.predictions.recordOutcome(episode, { target: parsed.target, label: parsed.label ?? null, value: parsed.value ?? null });
    });
  }

  /** Live figures of a version (default: production) from its predictions in a period. */
  async performance(model: string, version: number | null | undefined, from: Date | null | undefined, to: Date | null | undefined) {
    const chosen = await this.models.resolveForPrediction(parseInput(modelName, model, 'model'), parseInput(versionNumber, version, 'version'));
    const described = await this.models.version(chosen.id);
    if (!described) throw notFound(`No model version with id ${chosen.id}.`, { argument: 'version' });
    const result = storedResultOf(described);
    const rows = await this.predictions.forMonitoring(chosen.id, result.target, from ?? undefined, to ?? undefined);
    return {
      model,
      version: chosen.version,
      from: from ?? null,
      to: to ?? null,
      ...performanceFigures(result.task, result.preprocessing, rows.map((row) => ({ ...row, input: inputOf(row), output: outputOf(row) }))),
    };
  }

  private async requireForWrite(id: string, action: Action): Promise<Prediction> {
    const prediction = await this.predictions.findById(parseId(id, 'id'), 'prediction.write', action);
    if (!prediction) throw notFound(`No prediction with id ${id}.`, { argument: 'id' });
    return prediction;
  }
}

/** Encodes one input, turning the pipeline's refusals into coded errors. */
function encodeOne(serving: ServingModel, values: ModelInput) {
  return refusalsCoded(() => {
    const encoded = serving.encode([values]);
    return { row: encoded.rows[0]!, warnings: encoded.warnings[0]!, novelty: encoded.novelty[0]! };
  });
}

/** Explains one input, turning the pipeline's refusals into coded errors. */
function explainOne(serving: ServingModel, input: InputValues | SequenceHistory): Promise<StoredExplanation> {
  return explain(serving, input).catch((error: unknown) => {
    throw refusalCoded(error);
  });
}

/** Runs pipeline work on a request's input, turning its refusals into coded errors. */
function refusalsCoded<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw refusalCoded(error);
  }
}

/** A PipelineError is the input's fault (BAD_USER_INPUT); anything else stays as it is. */
function refusalCoded(error: unknown): unknown {
  return error instanceof PipelineError ? badInput(error.message, { reason: 'invalid-input' }) : error;
}

function cohortError(reason: unknown) {
  const code = errorCode(reason) ?? ErrorCode.INTERNAL_SERVER_ERROR;
  const message = code === ErrorCode.INTERNAL_SERVER_ERROR ? 'Internal server error.' : (reason as Error).message;
  return { code, message };
}

