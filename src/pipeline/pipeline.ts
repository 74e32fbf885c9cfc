import { type Architecture, buildNetwork, type ConvArchitecture, defaultArchitectures, type DenseArchitecture, describeNetwork, type NetworkShape } from './architectures.ts';
import { loadModelArtifact, type ModelArtifact, saveModelArtifact } from './artifact.ts';
import { cellAt, type Dataset, rawValueOf, datasetFromRecords, parseCsv, type RawRecord, readCsvFile } from './csv.ts';
import type { Matrix } from './matrix.ts';
import { badOption, PipelineError } from './errors.ts';
import { type Autoencoder, fitAutoencoder, measureAutoencoder } from './autoencoder.ts';
import { type Calibration, chanceCalibrationError, chooseCalibration, foldCalibration } from './calibration.ts';
import { computeMetrics, type Evaluation, type EvaluationTarget, evaluate, type SubgroupColumn } from './evaluate.ts';
import type { FeatureSpec } from './feature-spec.ts';
import { checkCrossValidation, type CrossValidationOptions, type CrossValidationResult, crossValidate, type FoldOutputs } from './cross-validation.ts';
import { type DataSplit, defaultSplit, encodeRows, fitPreprocessing, groupedSplit, type PreprocessingState, type SplitFractions, splitStrata, stratifiedSplit } from './preprocess.ts';
import { assessDataQuality, type DataQualityReport, type ImageOptions, type PreparedData, type QualityOptions } from './quality.ts';
import type { FeatureInfo, StoredModel } from './serving.ts';
import { checkedRule, chooseThreshold, defaultCoverage, fitConformal, measureConformal, type ThresholdRule } from './uncertainty.ts';
import { mean } from './stats.ts';
import type { StageCallback } from './stages.ts';
import type { SequenceOptions } from './sequence-data.ts';
import { type SequenceArchitecture, trainSequenceModel } from './sequence.ts';
import { initTensorflow, tf } from './tensorflow.ts';
import { type EpochRecord, fitLeastSquares, type FitOptions, type FitResult, fitNetwork, type Objective, type ProgressCallback, type ProgressEvent, type TrainingData, type TrainingSettings } from './train.ts';

/** Where the training rows come from: a CSV file or text, rows in memory, or a dataset already read. */
export type DataSource = { csvPath: string } | { csvText: string; source?: string } | { records: RawRecord[]; source?: string } | { dataset: Dataset };

export interface TrainModelOptions extends Omit<QualityOptions, 'image'> {
  data: DataSource;
  image?: ImageOptions & { pixelScale?: number };
  /**
   * Binary: the probability of the positive class at or above which it is predicted: a number (default 0.5),
   * `youden`, or `{ sensitivity: 0.9 }`, the rules chosen on the validation split.
   */
  threshold?: ThresholdRule;
  /** Nominal coverage of the split-conformal prediction sets and intervals (default 0.9). */
  coverage?: number;
  /** Classifiers: recalibrate the probabilities on the validation split (Platt scaling, isotonic with enough rows, temperature for several classes); default true. */
  calibrate?: boolean;
  split?: Partial<SplitFractions>;
  /** Seeds the split, the initial weights, the shuffling, dropout and the bootstrap (default 42). */
  seed?: number;
  /** Changes to the default network of the task (dense for tables, cnn for images). */
  architecture?: Partial<DenseArchitecture> | Partial<ConvArchitecture>;
  training?: Partial<TrainingSettings>;
  baselineTraining?: Partial<TrainingSettings>;
  bootstrap?: { resamples?: number; level?: number };
  /** The output in words for explanations and cards, e.g. "malignancy probability". */
  outcomeLabel?: string;
  /** Also estimate performance by (repeated) k-fold cross-validation, reported as mean and spread across folds. */
  crossValidation?: CrossValidationOptions;
  /** Longitudinal data, one row per visit: train a GRU over each patient's visits (binary tasks; see sequence.ts). */
  sequence?: SequenceOptions;
  onProgress?: ProgressCallback;
  /** Told how reading the file, checking the data and evaluating advance (they take a while on large files). */
  onStage?: StageCallback;
}

/** Everything a model registry keeps for a trained version. All JSON-serializable except artifact.weightData (see serializeTrainingResult). */
export interface TrainingResult extends StoredModel {
  formatVersion: 1;
  trainedAt: string;
  unitsNote: string | null;
  architecture: (Architecture | SequenceArchitecture) & { layers: string[]; parameters: number };
  baseline: { description: string; layers: string[]; parameters: number };
  training: {
    seed: number;
    settings: TrainingSettings;
    baselineSettings: TrainingSettings;
    backend: string;
    tfjsVersion: string;
    history: EpochRecord[];
    baselineHistory: EpochRecord[];
    bestEpoch: number;
    epochsRun: number;
    stoppedEarly: boolean;
    valMetricName: string;
    durationMs: { model: number; baseline: number; evaluation: number };
  };
  datasetSha256: string;
  datasetSource: string;
  /** Original row indices (0 = first data row of the source) of each split; groupedBy names the column whose groups never straddle splits. */
  split: { fractions: SplitFractions; seed: number; stratifiedBy: string; groupedBy?: string; train: number[]; validation: number[]; test: number[] };
  counts: {
    rowsRead: number;
    usableRows: number;
    train: number;
    validation: number;
    test: number;
    /** Binary: rows of the positive class per split. */
    events: { total: number; train: number; validation: number; test: number } | null;
    classCounts: Record<string, number> | null;
  };
  quality: DataQualityReport;
  evaluation: Evaluation;
  /** Present when cross-validation was asked for. */
  crossValidation?: CrossValidationResult;
  /** Binary: how the threshold was chosen, in words. */
  thresholdRule: string | null;
  /** Classifiers: the recalibration fitted on the validation split and folded into the network, with the test ECE before and after. */
  calibration: Calibration | null;
  /** Tabular models: the out-of-distribution autoencoder fitted on the training inputs. */
  autoencoder: Autoencoder | null;
}

export const defaultSeed = 42;

export const defaultTraining = {
  dense: { epochs: 300, batchSize: 32, learningRate: 0.001, patience: 30, l2: 0.001 },
  cnn: { epochs: 40, batchSize: 64, learningRate: 0.005, patience: 8, l2: 0.0001 },
  linear: { epochs: 300, batchSize: 32, learningRate: 0.01, patience: 20, l2: 0.0001 },
} satisfies Record<string, TrainingSettings>;

/** Large data sets: an epoch is at most this many batches of at most maxBatchSize rows. */
const maxStepsPerEpoch = 250;
const maxBatchSize = 1024;

/** Large data sets: epochs without a better validation loss before stopping (each epoch is 250 batches, not a pass). */
const largePatience = 10;

/**
 * How a network of this kind trains on this many rows by default: its usual
 * settings for small data sets; for large ones a batch that grows with the
 * data (up to 1024 rows), and when even that needs more than 250 batches a
 * pass, epochs of 250 batches with a patience of 10, so that a file of a
 * million rows trains in minutes and early stopping checks often.
 */
export function trainingDefaults(kind: keyof typeof defaultTraining, trainRows: number): TrainingSettings {
  const usual = defaultTraining[kind];
  const batchSize = Math.min(maxBatchSize, Math.max(usual.batchSize, Math.ceil(trainRows / maxStepsPerEpoch)));
  if (trainRows <= batchSize * maxStepsPerEpoch) return { ...usual, batchSize };
  return { ...usual, batchSize, stepsPerEpoch: maxStepsPerEpoch, patience: Math.min(usual.patience, largePatience) };
}

/**
 * Bootstrap resamples by default: 1000, fewer for test sets above 10,000
 * rows (never below 200), whose intervals are narrow and whose resamples are
 * costly; the card states the number used.
 */
export function defaultResamples(testRows: number): number {
  return Math.max(200, Math.min(1000, Math.round(1e7 / testRows)));
}

/**
 * The whole pipeline: collect the rows, check their quality, split and
 * preprocess them (fitted on training rows only), train the network and its
 * baseline with early stopping, save the network, and evaluate the saved
 * network on the test split.
 * @param options the data, the target and task, and optional settings
 * @returns the trained version with its metrics and data-quality report
 * @throws PipelineError for unusable data (BAD_DATA) or options (BAD_OPTION)
 */
export async function trainModel(options: TrainModelOptions): Promise<TrainingResult> {
  if (options.sequence) return trainSequenceModel({ ...options, sequence: options.sequence });
  checkOptions(options);
  const engine = await initTensorflow();
  const seed = options.seed ?? defaultSeed;
  const dataset = await loadData(options.data, options.onStage);
  const prepared = assessDataQuality(dataset, options, options.onStage);
  const fractions = { ...defaultSplit, ...options.split };
  const strata = splitStrata(prepared);
  const split = prepared.groups ? groupedSplit(prepared.groups, strata, fractions, seed) : stratifiedSplit(strata, fractions, seed);
  const objective: Objective = options.task === 'binary' ? 'binary' : options.task === 'regression' ? 'regression' : 'multiclass';
  const fixedThreshold = typeof options.threshold === 'number' ? options.threshold : 0.5;
  const cvTarget: EvaluationTarget = { kind: objective, labels: prepared.labels, threshold: fixedThreshold };
  const architecture = chooseArchitecture(options);

  const crossValidation = options.crossValidation
    ? await crossValidate(
        options.crossValidation,
        cvTarget,
        prepared.groups ?? prepared.rows.map(String),
        strata,
        options.group ?? null,
        seed,
        async (foldSplit, fold) => {
          const fitted = await fitPair(prepared, foldSplit, objective, architecture, options, foldSeed(seed, fold), foldProgress(options, fold));
          try {
            return await scoreFold(fitted, { network: fitted.test, baseline: fitted.test }, objective, prepared.labels, options);
          } finally {
            fitted.dispose();
          }
        },
        baselineDescriptions[objective],
      )
    : null;

  const fitted = await fitPair(prepared, split, objective, architecture, options, seed, options.onProgress);
  const { network, baseline, state, train, test, fit, baselineFit, settings, baselineSettings } = fitted;
  try {
    const evaluationStarted = performance.now();
    const step = evaluationStep(options);
    step('recalibration', 0);
    const calibration = options.calibrate === false ? null : await recalibrate(network, objective, prepared.labels, fitted.validation, test);
    const { artifact, weightsSha256 } = await saveModelArtifact(network);
    const classes = prepared.labels?.length ?? 1;
    // The figures describe the saved artifact, exactly as it will be served; threshold and conformal quantile come from validation.
    const saved = await loadModelArtifact(artifact);
    const [validationOutputs, testOutputs] = [await predictWith(saved, fitted.validation.x), await predictWith(saved, test.x)];
    saved.dispose();
    const chosen = objective === 'binary' ? chooseThreshold(options.threshold ?? fixedThreshold, fitted.validation.y, validationOutputs.map((row) => row[0]!)) : null;
    const target: EvaluationTarget = { kind: objective, labels: prepared.labels, threshold: chosen?.threshold ?? fixedThreshold };
    step('out-of-distribution autoencoder', 0.2);
    const autoencoder = state.kind === 'tabular' ? measureAutoencoder(await fitAutoencoder(train.x, seed + 2), test.x) : null;
    const conformal = measureConformal(fitConformal(objective, validationOutputs, fitted.validation.y, options.coverage ?? defaultCoverage), objective, testOutputs, test.y);
    step('metrics and bootstrap intervals', 0.6);
    const evaluation = evaluate({
      target,
      actual: test.y,
      model: testOutputs,
      baseline: await predictWith(baseline, test.x),
      trivial: new Array(test.x.rows).fill(trivialOutput(objective, train.y, classes)),
      baselineDescription: baselineDescriptions[objective],
      trivialDescription: objective === 'regression' ? 'the training mean for everyone' : 'the training class shares for everyone',
      subgroupColumns: subgroupColumns(dataset, prepared, split.test),
      bootstrap: { resamples: options.bootstrap?.resamples ?? defaultResamples(split.test.length), level: options.bootstrap?.level ?? 0.95, seed },
    });
    const durationMs = { ...fitted.durationMs, evaluation: performance.now() - evaluationStarted };
    return {
      formatVersion: 1,
      trainedAt: new Date().toISOString(),
      task: options.task,
      target: options.target,
      outcomeLabel: options.outcomeLabel ?? defaultOutcomeLabel(options, prepared),
      classLabels: prepared.labels,
      positiveClass: prepared.report.positiveClass,
      threshold: chosen?.threshold ?? null,
      thresholdRule: chosen?.rule ?? null,
      conformal,
      calibration,
      autoencoder,
      image: prepared.image,
      ...storedNetworks(state, options.featureSpec, { artifact, weightsSha256 }, { ...architecture, network }, { description: evaluation.baseline.description, network: baseline }),
      training: trainingRecord(seed, settings, baselineSettings, engine, fit, baselineFit, durationMs),
      datasetSha256: dataset.sha256,
      datasetSource: dataset.source,
      split: {
        fractions,
        seed,
        stratifiedBy: prepared.labels ? 'class' : 'quintile of the target',
        ...(options.group ? { groupedBy: options.group } : {}),
        ...originalRows(prepared, split),
      },
      counts: counts(prepared, split),
      quality: prepared.report,
      evaluation,
      ...(crossValidation ? { crossValidation } : {}),
    };
  } finally {
    fitted.dispose();
  }
}

/** The seed of one cross-validation fold's networks. */
export const foldSeed = (seed: number, { repeat, fold }: { repeat: number; fold: number }) => seed + 1 + repeat * 100 + fold;

/** Progress of one cross-validation fold, its events naming the fold ("3/25"). */
export function foldProgress(options: TrainModelOptions, { repeat, fold }: { repeat: number; fold: number }): ProgressCallback | undefined {
  const { folds, repeats = 1 } = options.crossValidation!;
  const name = `${repeat * folds + fold + 1}/${folds * repeats}`;
  return options.onProgress && ((event: ProgressEvent) => options.onProgress!({ ...event, fold: name }));
}

/**
 * The held-out outputs of one cross-validation fold: the network is
 * recalibrated and its conformal quantile fitted on the fold's validation
 * rows, as the stored model's are, then both networks predict the held-out rows.
 * @param test the held-out rows as the network and as the baseline take them (a sequence model's baseline sees the last visit only)
 */
export async function scoreFold(
  fitted: { network: tf.Sequential; baseline: tf.Sequential; validation: TrainingData },
  test: { network: TrainingData; baseline: TrainingData },
  objective: Objective,
  labels: string[] | null,
  options: TrainModelOptions,
): Promise<FoldOutputs> {
  if (options.calibrate !== false) await recalibrate(fitted.network, objective, labels, fitted.validation, test.network);
  const model = await predictWith(fitted.network, test.network.x);
  const conformal = fitConformal(objective, await predictWith(fitted.network, fitted.validation.x), fitted.validation.y, options.coverage ?? defaultCoverage);
  const coverage = measureConformal(conformal, objective, model, test.network.y).test!.coverage;
  return { actual: test.network.y, model, baseline: await predictWith(fitted.baseline, test.baseline.x), coverage };
}

/**
 * Recalibrates a classifier on the validation split (the map chosen by
 * held-out log-loss there, see chooseCalibration) and folds it into the
 * network; measures the test split's calibration error before and after, and
 * what a perfectly calibrated model would show on those rows by chance.
 * @returns null for regression, or when the validation split holds one class only
 */
export async function recalibrate(network: tf.Sequential, objective: Objective, labels: string[] | null, validation: TrainingData, test: TrainingData): Promise<Calibration | null> {
  if (objective === 'regression' || new Set(validation.y).size < 2) return null;
  const eceOf = (outputs: number[][]) => (computeMetrics({ kind: objective, labels, threshold: 0.5 }, test.y, outputs) as { ece: number }).ece;
  const before = eceOf(await predictWith(network, test.x));
  const { parameters, candidates } = chooseCalibration(classProbabilities(objective, await predictWith(network, validation.x)), validation.y);
  foldCalibration(network, parameters);
  const after = await predictWith(network, test.x);
  // The ECE bins the positive class's probability (binary) or the top class's (several classes).
  const eventProbabilities = after.map((row) => (objective === 'binary' ? row[0]! : Math.max(...row)));
  return { ...parameters, validationRows: validation.y.length, candidates, ece: { before, after: eceOf(after), chance: chanceCalibrationError(eventProbabilities) } };
}

/** Outputs as class probabilities: a binary network's [p] becomes [1 - p, p]. */
function classProbabilities(objective: Objective, outputs: number[][]): number[][] {
  return objective === 'binary' ? outputs.map(([p]) => [1 - p!, p!]) : outputs;
}

/** A network and its baseline trained on one split, with the split's encoded rows. */
interface FittedPair {
  state: PreprocessingState;
  network: tf.Sequential;
  baseline: tf.Sequential;
  train: TrainingData;
  validation: TrainingData;
  test: TrainingData;
  fit: FitResult;
  baselineFit: FitResult;
  settings: TrainingSettings;
  baselineSettings: TrainingSettings;
  durationMs: { model: number; baseline: number };
  dispose(): void;
}

/**
 * Fits the preprocessing on the split's training rows, then trains the
 * network and its baseline with early stopping on its validation rows.
 * @param onProgress where each epoch is reported (the caller's callback; for cross-validation folds, with the fold)
 */
async function fitPair(
  prepared: PreparedData,
  split: DataSplit,
  objective: Objective,
  architecture: Architecture,
  options: TrainModelOptions,
  seed: number,
  onProgress: ProgressCallback | undefined,
): Promise<FittedPair> {
  const state = fitPreprocessing(prepared, split.train, options.image?.pixelScale);
  const part = (positions: number[]): TrainingData => ({ x: encodeRows(state, prepared.values, positions), y: positions.map((p) => prepared.targets[p]!) });
  const [train, validation, test] = [part(split.train), part(split.validation), part(split.test)];
  const shape = networkShape(objective, prepared, state);
  const settings = { ...trainingDefaults(architecture.kind, split.train.length), ...options.training };
  const baselineSettings = { ...trainingDefaults('linear', split.train.length), ...options.baselineTraining };
  const classes = prepared.labels?.length ?? 1;
  const network = buildNetwork(architecture, shape, seed);
  const baseline = buildNetwork(defaultArchitectures.linear, shape, seed + 1000);
  const dispose = () => {
    network.dispose();
    baseline.dispose();
  };
  try {
    const started = performance.now();
    const fit = await fitNetwork(network, train, validation, { objective, classes, settings, seed, ...(onProgress ? { onProgress } : {}) });
    const modelDone = performance.now();
    const baselineFit = await fitBaseline(baseline, train, validation, { objective, classes, settings: baselineSettings, seed: seed + 1, phase: 'baseline', ...(onProgress ? { onProgress } : {}) });
    const durationMs = { model: modelDone - started, baseline: performance.now() - modelDone };
    return { state, network, baseline, train, validation, test, fit, baselineFit, settings, baselineSettings, durationMs, dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}

/**
 * Linear regression is solved exactly by least squares; logistic regression
 * trains like the model (Adam, early stopping on the validation loss).
 */
async function fitBaseline(baseline: tf.Sequential, train: TrainingData, validation: TrainingData, options: FitOptions): Promise<FitResult> {
  if (options.objective !== 'regression') return fitNetwork(baseline, train, validation, options);
  fitLeastSquares(baseline, train);
  return { history: [], bestEpoch: 0, epochsRun: 0, stoppedEarly: false, valMetricName: 'rmse' };
}

const baselineDescriptions: Record<Objective, string> = {
  binary: 'logistic regression',
  multiclass: 'multinomial logistic regression',
  regression: 'least-squares linear regression',
};

export function checkOptions(options: TrainModelOptions): void {
  if (options.threshold !== undefined) checkedRule(options.threshold);
  if (options.coverage !== undefined && !(options.coverage > 0 && options.coverage < 1)) throw badOption('coverage must lie between 0 and 1.');
  if (options.seed !== undefined && !Number.isInteger(options.seed)) throw badOption('seed must be an integer.');
  if (options.crossValidation) checkCrossValidation(options.crossValidation);
  const { resamples = 1000, level = 0.95 } = options.bootstrap ?? {};
  if (!Number.isInteger(resamples) || resamples < 1 || !(level > 0 && level < 1)) {
    throw badOption('bootstrap resamples must be a positive integer and level between 0 and 1.');
  }
}

/** Tells onStage that an evaluation step starts (its name, and the share of evaluation done before it). */
export function evaluationStep(options: Pick<TrainModelOptions, 'onStage'>): (detail: string, fraction: number) => void {
  return (detail, fraction) => options.onStage?.({ stage: 'evaluate', detail, fraction });
}

export async function loadData(source: DataSource, onStage?: StageCallback): Promise<Dataset> {
  if ('csvPath' in source) return readCsvFile(source.csvPath, onStage);
  if ('csvText' in source) return parseCsv(source.csvText, source.source);
  if ('records' in source) return datasetFromRecords(source.records, source.source);
  return source.dataset;
}

function networkShape(objective: Objective, prepared: PreparedData, state: PreprocessingState): NetworkShape {
  return {
    inputSize: state.columns.length,
    outputUnits: objective === 'multiclass' ? prepared.labels!.length : 1,
    outputActivation: objective === 'binary' ? 'sigmoid' : objective === 'multiclass' ? 'softmax' : 'linear',
    ...(prepared.image ? { image: prepared.image } : {}),
  };
}

function chooseArchitecture(options: TrainModelOptions): Architecture {
  const kind = options.architecture?.kind ?? (options.task === 'image' ? 'cnn' : 'dense');
  if (kind === 'cnn' && options.task !== 'image') throw badOption('A convolutional network needs the task "image".');
  return { ...defaultArchitectures[kind], ...options.architecture } as Architecture;
}

/** Outputs for every row, predicted in batches so that no intermediate tensor grows with the data. */
export async function predictWith(model: tf.LayersModel, x: Matrix): Promise<number[][]> {
  const outputs: number[][] = [];
  for (let start = 0; start < x.rows; start += predictionBatch) {
    const rows = Math.min(predictionBatch, x.rows - start);
    const output = tf.tidy(() => model.predict(tf.tensor2d(x.values.subarray(start * x.columns, (start + rows) * x.columns), [rows, x.columns])) as tf.Tensor);
    try {
      for (const row of (await output.array()) as number[][]) outputs.push(row);
    } finally {
      output.dispose();
    }
  }
  return outputs;
}

const predictionBatch = 8192;

/** Predicts the training prevalence (binary), class shares (multiclass) or mean (regression) for everyone. */
export function trivialOutput(objective: Objective, trainY: number[], classes: number): number[] {
  if (objective === 'multiclass') return Array.from({ length: classes }, (_, k) => trainY.filter((y) => y === k).length / trainY.length);
  return [mean(trainY)];
}

const subgroupNames: [SubgroupColumn['variable'], RegExp][] = [
  ['sex', /^(sex|gender)$/i],
  ['age', /^age([ _]?years)?$/i],
];

export function subgroupColumns(dataset: Dataset, prepared: PreparedData, test: number[]): SubgroupColumn[] {
  return subgroupNames.flatMap(([variable, pattern]) => {
    const column = dataset.columns.find((name) => pattern.test(name) && name !== prepared.report.target);
    if (!column) return [];
    const cells = dataset.data.get(column)!;
    return [{ variable, column, values: test.map((position) => rawValueOf(cellAt(cells, prepared.rows[position]!))) }];
  });
}

function defaultOutcomeLabel(options: TrainModelOptions, prepared: PreparedData): string {
  if (options.task === 'binary') return `probability of ${prepared.report.positiveClass}`;
  if (options.task === 'regression') return `predicted ${options.target}`;
  return 'probability of the predicted class';
}

/** A result's description of its inputs, its saved network and its baseline. */
export function storedNetworks(
  state: PreprocessingState,
  featureSpec: FeatureSpec | undefined,
  saved: { artifact: ModelArtifact; weightsSha256: string },
  { network, ...architecture }: (Architecture | SequenceArchitecture) & { network: tf.LayersModel },
  baseline: { description: string; network: tf.LayersModel },
): Pick<TrainingResult, 'features' | 'unitsNote' | 'preprocessing' | 'artifact' | 'weightsSha256' | 'architecture' | 'baseline'> {
  return {
    features: featureInfo(state, featureSpec),
    unitsNote: featureSpec?.unitsNote ?? null,
    preprocessing: state,
    ...saved,
    architecture: { ...architecture, ...describeNetwork(network) },
    baseline: { description: baseline.description, ...describeNetwork(baseline.network) },
  };
}

function featureInfo(state: PreprocessingState, spec: FeatureSpec | undefined): FeatureInfo[] {
  const specOf = (name: string) => spec?.features[name];
  const range = (name: string) => {
    const possible = specOf(name)?.possibleRange;
    return possible ? { min: possible[0], max: possible[1] } : null;
  };
  if (state.kind === 'image') {
    return state.pixelColumns.map((name) => ({
      name,
      kind: 'numeric',
      label: specOf(name)?.label ?? null,
      unit: specOf(name)?.unit ?? null,
      trainingRange: { min: state.min, max: state.max },
      possibleRange: range(name),
      typical: 0,
      levels: null,
    }));
  }
  return state.features.map((feature) => ({
    name: feature.name,
    kind: feature.kind,
    label: specOf(feature.name)?.label ?? null,
    unit: specOf(feature.name)?.unit ?? null,
    trainingRange: feature.kind === 'numeric' ? { min: feature.min, max: feature.max } : null,
    possibleRange: feature.kind === 'numeric' ? range(feature.name) : null,
    ...(specOf(feature.name)?.code ? { code: specOf(feature.name)!.code! } : {}),
    typical: feature.kind === 'numeric' ? feature.mean : feature.mode,
    levels: feature.kind === 'categorical' ? feature.levels : null,
    ...(specOf(feature.name)?.levels ? { levelNames: specOf(feature.name)!.levels! } : {}),
  }));
}

export function trainingRecord(
  seed: number,
  settings: TrainingSettings,
  baselineSettings: TrainingSettings,
  engine: { backend: string; tfjsVersion: string },
  fit: FitResult,
  baselineFit: FitResult,
  durationMs: TrainingResult['training']['durationMs'],
): TrainingResult['training'] {
  return {
    seed,
    settings,
    baselineSettings,
    ...engine,
    history: fit.history,
    baselineHistory: baselineFit.history,
    bestEpoch: fit.bestEpoch,
    epochsRun: fit.epochsRun,
    stoppedEarly: fit.stoppedEarly,
    valMetricName: fit.valMetricName,
    durationMs,
  };
}

export function originalRows(prepared: PreparedData, split: DataSplit): Pick<DataSplit, 'train' | 'validation' | 'test'> {
  const original = (positions: number[]) => positions.map((position) => prepared.rows[position]!);
  return { train: original(split.train), validation: original(split.validation), test: original(split.test) };
}

export function counts(prepared: PreparedData, split: DataSplit): TrainingResult['counts'] {
  const positives = (positions: number[]) => positions.filter((p) => prepared.targets[p] === 1).length;
  const binary = prepared.report.task === 'binary';
  return {
    rowsRead: prepared.report.rowsRead,
    usableRows: prepared.rows.length,
    train: split.train.length,
    validation: split.validation.length,
    test: split.test.length,
    events: binary
      ? { total: positives(prepared.targets.map((_, p) => p)), train: positives(split.train), validation: positives(split.validation), test: positives(split.test) }
      : null,
    classCounts: prepared.report.classBalance ? Object.fromEntries(prepared.report.classBalance.map(({ label, count }) => [label, count])) : null,
  };
}

/** A TrainingResult as plain JSON: the weight bytes as base64. */
export type SerializedTrainingResult = Omit<TrainingResult, 'artifact'> & {
  artifact: Omit<ModelArtifact, 'weightData'> & { weightDataBase64: string };
};

/**
 * Turns a result into JSON-safe data for a file or a database column.
 */
export function serializeTrainingResult(result: TrainingResult): SerializedTrainingResult {
  const { weightData, ...artifact } = result.artifact;
  return { ...result, artifact: { ...artifact, weightDataBase64: Buffer.from(weightData).toString('base64') } };
}

/**
 * Reads back what serializeTrainingResult wrote (for example after JSON.parse).
 * @throws PipelineError BAD_ARTIFACT when it is not a serialized training result of a known format
 */
export function deserializeTrainingResult(value: unknown): TrainingResult {
  const candidate = value as Partial<SerializedTrainingResult> | null;
  if (candidate?.formatVersion !== 1 || typeof candidate.artifact?.weightDataBase64 !== 'string' || !candidate.artifact.modelTopology) {
    throw new PipelineError('BAD_ARTIFACT', 'This is not a serialized training result of format version 1.');
  }
  const { weightDataBase64, ...artifact } = candidate.artifact;
  return { ...(candidate as SerializedTrainingResult), artifact: { ...artifact, weightData: new Uint8Array(Buffer.from(weightDataBase64, 'base64')) } };
}
