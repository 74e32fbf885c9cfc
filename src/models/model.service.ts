import { z } from 'zod';
import { recordingFailure } from '../access/audited-transaction.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import { badInput, codedError, conflict, ErrorCode, notFound } from '../errors/errors.ts';
import type { TrainingJobStatus, TrainModelInput } from '../generated/graphql.ts';
import { type Connection, decodeCursor, pageSize } from '../graphql/paging.ts';
import { boundedText, isId, parseId, parseInput } from '../graphql/validation.ts';
import {
  assessDataQuality,
  buildModelCard,
  type CardText,
  datasetFromRecords,
  initTensorflow,
  parseCrossValidation,
  parseCsv,
  parseFeatureSpec,
  parseThresholdRule,
  PipelineError,
  prepareSequenceData,
  renderModelCardMarkdown,
  type TrainingResult,
  type TrainModelOptions,
} from '../pipeline/index.ts';
import type { AccessPolicy } from '../access/access-policy.ts';
import { decodeVersionRef, type Model, type ModelRepository, type ModelVersionSummary, type TrainingJob, type VersionRef, type VersionRefColumn } from './model.repository.ts';
import { cardTextOf, placeholderCardText, storedResultOf, trainingResultOf } from './stored-version.ts';
import type { TrainingDataRepository } from './training-data.repository.ts';
import type { TrainingRunner } from './training-runner.ts';
import type { ProductionChanges } from './production-changes.ts';

const modelName = z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'use 2 to 63 lower-case letters, digits and "-"' });

const trainSchema = z
  .object({
    name: modelName,
    description: boundedText(1000).nullish(),
    task: z.enum(['BINARY', 'MULTICLASS', 'REGRESSION', 'IMAGE']),
    target: boundedText(64),
    data: z.object({ csv: z.string().nullish(), fromPlatform: z.boolean().nullish() }),
    positiveClass: boundedText(64).nullish(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).nullish(),
    hiddenUnits: z.array(z.number().int().min(1).max(512)).min(1).max(4).nullish(),
    maxEpochs: z.number().int().min(1).max(2000).nullish(),
    imageWidth: z.number().int().min(1).max(64).nullish(),
    imageHeight: z.number().int().min(1).max(64).nullish(),
    features: z.unknown().nullish(),
    exclude: z.array(boundedText(64)).max(200).nullish(),
    acceptLeaks: z.array(boundedText(64)).max(200).nullish(),
    dropDuplicates: z.boolean().nullish(),
    group: boundedText(64).nullish(),
    sequence: z.object({ id: boundedText(64), time: boundedText(64) }).nullish(),
    threshold: boundedText(32).nullish(),
    coverage: z.number().gt(0).lt(1).nullish(),
    calibrate: z.boolean().nullish(),
    missing: z.enum(['IMPUTE', 'DROP_ROWS']).nullish(),
    crossValidation: z.string().regex(/^\d+(x\d+)?$/, { message: 'use k or k x repeats, such as 5 or 5x5' }).nullish(),
  })
  .refine((input) => (input.task === 'IMAGE') === (input.imageWidth != null && input.imageHeight != null), {
    message: 'image tasks need imageWidth and imageHeight (and only image tasks take them)',
    path: ['imageWidth'],
  })
  .refine((input) => Boolean(input.data.csv) !== Boolean(input.data.fromPlatform), {
    message: 'give exactly one data source: csv, or fromPlatform: true',
    path: ['data'],
  });

/** A model version read along in another statement (ModelService.versionForPrediction). */
export interface VersionAlong {
  /** The column the statement selects (none when the arguments or the role were refused: resolve says why). */
  sql: VersionRefColumn | undefined;
  /** The version, from the column's answer. */
  resolve(selected: unknown): Promise<VersionRef>;
}

/** @throws CONFLICT for an archived version (predictions use production or candidates) */
function usableForPrediction(version: VersionRef, name: string, versionNumber: number | null | undefined): VersionRef {
  if (version.stage === 'ARCHIVED') {
    throw conflict(`Version ${versionNumber} of ${name} is archived; use the production version or a candidate.`, { argument: 'version' });
  }
  return version;
}

/** The registry: models, versions and their cards, training jobs and promotions. */
export class ModelService {
  constructor(
    private readonly models: ModelRepository,
    private readonly trainingData: TrainingDataRepository,
    private readonly access: AccessPolicy,
    private readonly runner: TrainingRunner,
    private readonly trail: AuditTrail,
    private readonly maxPageSize: number,
    private readonly productionChanges: ProductionChanges,
  ) {}

  list(): Promise<Model[]> {
    return this.models.list();
  }

  get(name: string): Promise<Model | null> {
    return this.models.findByName(name);
  }

  byId(id: string): Promise<Model | null> {
    return this.models.findById(id);
  }

  versions(model: Model): Promise<ModelVersionSummary[]> {
    return this.models.versions(model.id);
  }

  async productionVersion(model: Model): Promise<ModelVersionSummary | null> {
    return (await this.models.versions(model.id)).find((version) => version.stage === 'PRODUCTION') ?? null;
  }

  version(id: string): Promise<ModelVersionSummary | null> {
    return this.models.findVersion(parseId(id, 'id'));
  }

  job(id: string): Promise<TrainingJob | null> {
    return this.models.findJob(parseId(id, 'id'));
  }

  /** Every training job, newest first, whoever started it (data scientists, admins); `status` keeps one state. */
  jobs(status: TrainingJobStatus | null | undefined, first: number, after: string | null | undefined): Promise<Connection<TrainingJob>> {
    return this.models.listJobs(status ? { status } : {}, pageSize(first, this.maxPageSize), after ? decodeCursor(after) : undefined);
  }

  async runtime() {
    this.access.require('model.read', 'model.read');
    return initTensorflow();
  }

  /**
   * A version by model name: the given number, or the production version.
   * @throws NOT_FOUND for an unknown model or version; CONFLICT when no number is given and none is in production
   */
  async resolveVersion(name: string, versionNumber: number | null | undefined): Promise<ModelVersionSummary> {
    const { id } = await this.resolveVersionRef(name, versionNumber);
    const version = await this.models.findVersion(id);
    if (!version) throw notFound(`No model version with id ${id}.`, { argument: 'version' });
    return version;
  }

  /**
   * As resolveVersion, the version's id, number and stage only (enough to
   * serve it, or refuse to), in one statement.
   */
  async resolveVersionRef(name: string, versionNumber: number | null | undefined): Promise<VersionRef> {
    return (await this.models.findVersionRef(name, versionNumber ?? null)) ?? this.missingVersion(name, versionNumber);
  }

  /** Only the answer that something is missing says what: the model, or its version. */
  private async missingVersion(name: string, versionNumber: number | null | undefined): Promise<never> {
    if (!(await this.models.findByName(name))) throw notFound(`No model named ${name}. The models query lists them.`, { argument: 'model' });
    if (versionNumber === null || versionNumber === undefined) throw conflict(`The model ${name} has no production version yet; name a version.`, { argument: 'version' });
    throw notFound(`The model ${name} has no version ${versionNumber}.`, { argument: 'version' });
  }

  /**
   * The version a prediction should use: the given number, or the production version.
   * @throws NOT_FOUND for an unknown model or version; CONFLICT for an archived version or no production version
   */
  async resolveForPrediction(name: string, versionNumber: number | null | undefined): Promise<VersionRef> {
    return usableForPrediction(await this.resolveVersionRef(name, versionNumber), name, versionNumber);
  }

  /**
   * resolveForPrediction inside another statement (a prediction's read of its
   * case), one round trip less: that statement selects `sql`, and `resolve`
   * reads the answer, throwing what resolveForPrediction would. Errors of the
   * arguments (`args` parses them) or of the role wait for `resolve`, so that
   * the other statement's own answer comes first.
   */
  versionForPrediction(args: () => [name: string, versionNumber: number | null | undefined]): VersionAlong {
    try {
      const [name, versionNumber] = args();
      return {
        sql: this.models.versionRefSql(name, versionNumber ?? null),
        resolve: async (selected) => usableForPrediction(decodeVersionRef(selected) ?? (await this.missingVersion(name, versionNumber)), name, versionNumber),
      };
    } catch (error) {
      return { sql: undefined, resolve: () => Promise.reject(error) };
    }
  }

  /** The training result of a version with its weights, to serve or evaluate it. */
  async trainingResult(version: ModelVersionSummary): Promise<TrainingResult> {
    const weights = await this.models.findWeights(version.id);
    if (!weights) throw notFound(`No model version with id ${version.id}.`, { argument: 'id' });
    return trainingResultOf({ result: version.result, weights });
  }

  /**
   * A registry name as trainModel accepts it.
   * @throws BAD_USER_INPUT naming the rule
   */
  checkModelName(name: string): string {
    return parseInput(modelName, name, 'name');
  }

  /**
   * Stores a version trained outside a job (the command line), under the same
   * name rule as trainModel; as the production version when a comment says why.
   */
  addTrainedVersion(model: { name: string; description: string }, result: TrainingResult, cardText: CardText, promotionComment?: string): Promise<ModelVersionSummary> {
    return this.models.addVersion({ name: this.checkModelName(model.name), description: model.description }, result, cardText, promotionComment ? { comment: promotionComment } : undefined);
  }

  /** The card of a version, structured and as Markdown with its plots. */
  card(version: ModelVersionSummary) {
    const card = buildModelCard(storedResultOf(version), cardTextOf(version), `v${version.version}`);
    return {
      json: card,
      markdown: renderModelCardMarkdown(card),
      rocSvg: card.plots.roc,
      calibrationSvg: card.plots.calibration,
      predictedObservedSvg: card.plots.predictedObserved,
      residualsSvg: card.plots.residuals,
    };
  }

  /**
   * Checks the data at once (so a file it cannot use is refused here, with the
   * reason) and queues the training; the job reports progress and the result.
   */
  train(input: TrainModelInput): Promise<TrainingJob> {
    return recordingFailure(this.trail, 'model.train', { resourceType: 'Model' }, async () => {
      this.access.require('model.train', 'model.train');
      const parsed = parseInput(trainSchema, input);
      const task = parsed.task.toLowerCase() as 'binary' | 'multiclass' | 'regression' | 'image';
      const data = parsed.data.csv ? { csvText: parsed.data.csv, source: 'uploaded CSV' } : await this.platformData(parsed.target, parsed.sequence);
      // Platform rows are patients' own: no published range may be one patient's exact value.
      const hideExtremes = !parsed.data.csv;
      const options: Omit<TrainModelOptions, 'onProgress'> = {
        data,
        target: parsed.target,
        task,
        hideExtremes,
        ...(parsed.positiveClass ? { positiveClass: parsed.positiveClass } : {}),
        ...(parsed.seed != null ? { seed: parsed.seed } : {}),
        ...(parsed.imageWidth && parsed.imageHeight ? { image: { width: parsed.imageWidth, height: parsed.imageHeight } } : {}),
        ...(parsed.hiddenUnits ? { architecture: { hiddenUnits: parsed.hiddenUnits } } : {}),
        ...(parsed.maxEpochs ? { training: { epochs: parsed.maxEpochs } } : {}),
        ...(parsed.features != null ? { featureSpec: optionOf(() => parseFeatureSpec(parsed.features), 'input.features') } : {}),
        ...(parsed.exclude ? { exclude: parsed.exclude } : {}),
        ...(parsed.acceptLeaks ? { acceptLeaks: parsed.acceptLeaks } : {}),
        duplicates: parsed.dropDuplicates ? 'drop' : 'keep',
        ...(parsed.group ? { group: parsed.group } : {}),
        ...(parsed.sequence ? { sequence: parsed.sequence } : {}),
        ...(parsed.threshold ? { threshold: optionOf(() => parseThresholdRule(parsed.threshold!), 'input.threshold') } : {}),
        ...(parsed.coverage != null ? { coverage: parsed.coverage } : {}),
        ...(parsed.calibrate != null ? { calibrate: parsed.calibrate } : {}),
        ...(parsed.missing ? { missing: parsed.missing === 'DROP_ROWS' ? 'drop-rows' : 'impute' } : {}),
        ...(parsed.crossValidation ? { crossValidation: optionOf(() => parseCrossValidation(parsed.crossValidation!), 'input.crossValidation') } : {}),
      };
      checkData(options);
      const description = parsed.description ?? '';
      const job = await this.models.createJob(parsed.name, { target: parsed.target, task, source: data.source, seed: parsed.seed ?? null });
      this.runner.submit({
        jobId: job.id,
        model: { name: parsed.name, description },
        options,
        cardText: placeholderCardText(parsed.name, description, data.source),
        requestedBy: this.access.subject,
      });
      return job;
    });
  }

  /**
   * Training rows from the platform: one per case with a recorded outcome, or
   * for a sequence model one per patient and day of observations, the
   * sequence's id and time naming the patient pseudonym and day columns.
   */
  private async platformData(target: string, sequence: { id: string; time: string } | null | undefined) {
    if (!sequence) return { records: await this.trainingData.collect(target), source: 'platform cases with recorded outcomes' };
    const clash = [sequence.id, sequence.time].find((name) => name === target) ?? (sequence.id === sequence.time ? sequence.id : undefined);
    if (clash) throw badInput(`The sequence's id and time name the platform's patient and day columns: give two names other than the target (${clash}).`, { field: 'input.sequence' });
    return { records: await this.trainingData.collectVisits(target, sequence), source: "platform patients' observations by day, with recorded outcomes" };
  }

  promote(id: string, comment: string): Promise<ModelVersionSummary> {
    return recordingFailure(this.trail, 'model.promote', { resourceType: 'ModelVersion', resourceIds: isId(id) ? [id] : [] }, async () => {
      this.access.require('model.promote', 'model.promote');
      const version = await this.models.findVersion(parseId(id, 'id'));
      if (!version) throw notFound(`No model version with id ${id}.`, { argument: 'id' });
      if (version.stage === 'PRODUCTION') throw conflict('This version is already in production.', { argument: 'id' });
      const promoted = await this.models.promote(version, parseInput(boundedText(500), comment, 'comment'));
      this.productionChanges.notify();
      return promoted;
    });
  }
}

/** An option parsed by the pipeline; a bad one is the caller's to fix. */
function optionOf<T>(parse: () => T, field: string): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof PipelineError) throw badInput(error.message, { field });
    throw error;
  }
}

/** Runs the data-quality step on the data now: a file it cannot use is the caller's to fix. */
function checkData(options: Omit<TrainModelOptions, 'onProgress'>): void {
  try {
    if ('records' in options.data && options.data.records.length === 0) {
      throw new PipelineError('BAD_DATA', `No case in the platform has a recorded outcome for ${options.target}.`);
    }
    const dataset = 'csvText' in options.data ? parseCsv(options.data.csvText, 'upload') : 'records' in options.data && options.sequence ? datasetFromRecords(options.data.records, options.data.source) : undefined;
    if (dataset && options.sequence) prepareSequenceData(dataset, { ...options, sequence: options.sequence });
    else if (dataset) assessDataQuality(dataset, options);
  } catch (error) {
    if (error instanceof PipelineError) throw badInput(error.message, { reason: error.code, field: 'input.data' });
    throw codedError(ErrorCode.INTERNAL_SERVER_ERROR, 'The training data could not be checked.');
  }
}
