import { type Architecture, buildNetwork, type ConvArchitecture, defaultArchitectures, type DenseArchitecture, describeNetwork, type NetworkShape } from './architectures.ts';
import { loadModelArtifact, type ModelArtifact, saveModelArtifact } from './artifact.ts';
import { cellAt, type Dataset, rawValueOf, datasetFromRecords, parseCsv, type RawRecord, readCsvFile } from './csv.ts';
import type { Matrix } from './matrix.ts';
import { badOption, PipelineError } from './errors.ts';
import { type Autoencoder, fitAutoencoder, measureAutoencoder } from './autoencoder.ts';
import { applyCalibration, type Calibration, calibrationEvents, chanceCalibrationError, chooseCalibration, foldCalibration } from './calibration.ts';
import { eceSweep } from './metrics.ts';
import { computeMetrics, type Evaluation, type EvaluationTarget, evaluate, type SubgroupColumn } from './evaluate.ts';
import type { FeatureSpec } from './feature-spec.ts';
import { checkCrossValidation, type CrossValidationOptions, type CrossValidationResult, crossValidate, type FoldOutputs } from './cross-validation.ts';
import { assignFolds, type DataSplit, defaultSplit, encodeRows, fitPreprocessing, groupedSplit, type PreprocessingState, type SplitFractions, splitStrata, stratifiedSplit } from './preprocess.ts';
import { assessDataQuality, type DataQualityReport, type ImageOptions, type PreparedData, type QualityOptions } from './quality.ts';
import type { FeatureInfo, StoredModel } from './serving.ts';
import { checkedRule, chooseThreshold, crossFitBelowRows, crossFitFolds, defaultCoverage, fitConformal, measureConformal, type ThresholdRule } from './uncertainty.ts';
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
  /** Classifiers: recalibrate the probabilities on the validation split (the map chosen by cross-fitted log-loss, see chooseCalibration); default true. */
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
            const rows = await calibrationRows(
              fitted.network,
              fitted.validation,
              crossFitted(architecture, () => outOfFold(prepared, foldSplit, foldSeed(seed, fold), crossFittedDense(prepared, objective, architecture, options, fitted.fit.bestEpoch))),
            );
            return await scoreFold(fitted, { network: fitted.test, baseline: fitted.test }, objective, prepared.labels, options, rows);
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
    const rows = await calibrationRows(network, fitted.validation, crossFitted(architecture, () => outOfFold(prepared, split, seed, crossFittedDense(prepared, objective, architecture, options, fit.bestEpoch))));
    const recalibrated = options.calibrate === false ? null : await recalibrate(network, objective, prepared.labels, fitted.validation, test);
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
    const bootstrap = {
      resamples: options.bootstrap?.resamples ?? defaultResamples(split.test.length),
      level: options.bootstrap?.level ?? 0.95,
      seed,
      ...(prepared.groups ? { groups: split.test.map((position) => prepared.groups![position]!) } : {}),
    };
    const conformal = measureConformal(
      fitConformal(objective, conformalOutputs(objective, rows, recalibrated), rows.y, options.coverage ?? defaultCoverage, rows.source),
      objective,
      testOutputs,
      test.y,
      bootstrap,
    );
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
      bootstrap: { resamples: bootstrap.resamples, level: bootstrap.level, seed },
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
      calibration: recalibrated?.calibration ?? null,
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
 * recalibrated, its conformal quantile fitted and its decision threshold
 * chosen by the rule on the fold's validation rows, as the stored model's
 * are; then both networks predict the held-out rows.
 * @param test the held-out rows as the network and as the baseline take them (a sequence model's baseline sees the last visit only)
 */
export async function scoreFold(
  fitted: { network: tf.Sequential; baseline: tf.Sequential; validation: TrainingData },
  test: { network: TrainingData; baseline: TrainingData },
  objective: Objective,
  labels: string[] | null,
  options: TrainModelOptions,
  rows: CalibrationRows,
): Promise<FoldOutputs> {
  const recalibrated = options.calibrate === false ? null : await recalibrate(fitted.network, objective, labels, fitted.validation, test.network);
  const model = await predictWith(fitted.network, test.network.x);
  const validation = await predictWith(fitted.network, fitted.validation.x);
  const conformal = fitConformal(objective, conformalOutputs(objective, rows, recalibrated), rows.y, options.coverage ?? defaultCoverage, rows.source);
  const coverage = measureConformal(conformal, objective, model, test.network.y).test!.coverage;
  const threshold = objective === 'binary' ? chooseThreshold(options.threshold ?? 0.5, fitted.validation.y, validation.map((row) => row[0]!)).threshold : undefined;
  return { actual: test.network.y, model, baseline: await predictWith(fitted.baseline, test.baseline.x), coverage, ...(threshold === undefined ? {} : { threshold }) };
}

/**
 * Recalibrates a classifier on the validation split (the map chosen by
 * held-out log-loss there, see chooseCalibration) and folds it into the
 * network; measures the test split's calibration error before and after
 * (binned, and the sweep estimate), and what a perfectly calibrated model
 * would show on those rows by chance.
 * @returns null for regression, or when the validation split holds one class only; else the calibration and,
 *   per validation row, the network's output under the chosen map fitted without that row's fold (what the
 *   conformal quantile is fitted on, so that no row's score comes from a map fitted on itself)
 */
export async function recalibrate(
  network: tf.Sequential,
  objective: Objective,
  labels: string[] | null,
  validation: TrainingData,
  test: TrainingData,
): Promise<{ calibration: Calibration; heldOut: number[][] } | null> {
  if (objective === 'regression' || new Set(validation.y).size < 2) return null;
  const eceOf = (outputs: number[][]) => (computeMetrics({ kind: objective, labels, threshold: 0.5 }, test.y, outputs) as { ece: number }).ece;
  const before = eceOf(await predictWith(network, test.x));
  const { parameters, candidates, heldOut } = chooseCalibration(classProbabilities(objective, await predictWith(network, validation.x)), validation.y);
  foldCalibration(network, parameters);
  const after = await predictWith(network, test.x);
  // The ECE bins the positive class's probability (binary) or the top class's (several classes).
  const events = calibrationEvents(objective, test.y, after);
  const calibration = {
    ...parameters,
    validationRows: validation.y.length,
    candidates,
    ece: { before, after: eceOf(after), chance: chanceCalibrationError(events.probabilities), sweep: eceSweep(events.outcomes, events.probabilities), sweepChance: chanceCalibrationError(events.probabilities, eceSweep) },
  };
  return { calibration, heldOut: objective === 'binary' ? heldOut.map((row) => [row[1]!]) : heldOut };
}

/**
 * The rows the conformal quantile is fitted on, with each row's output of a
 * network that did not learn from it: the validation rows under the trained
 * network, or, when the validation split is small, every training and
 * validation row under networks cross-fitted without it (cross-conformal;
 * see outOfFold). The recalibration map is chosen on the validation
 * split either way: chosen on out-of-fold outputs it measured no better
 * (BENCHMARKS.md, issue 15's fifth session).
 */
export interface CalibrationRows {
  outputs: number[][];
  y: number[];
  source: 'validation' | 'out-of-fold';
}


/**
 * The conformal calibration rows of a trained network: out-of-fold outputs
 * when its validation split is small (the networks are trained only then),
 * else its own outputs on the validation split.
 * @param outOfFold trains the cross-fitted networks; null where they are not worth their cost (see crossFitted)
 */
export async function calibrationRows(
  network: tf.LayersModel,
  validation: TrainingData,
  outOfFold: (() => Promise<Omit<CalibrationRows, 'source'>>) | null,
): Promise<CalibrationRows> {
  if (outOfFold && validation.y.length < crossFitBelowRows) return { ...(await outOfFold()), source: 'out-of-fold' };
  return { outputs: await predictWith(network, validation.x), y: validation.y, source: 'validation' };
}

/**
 * Dense networks are cross-fitted for the conformal quantile; convolutional
 * ones are not: five more trainings of an image network cost minutes (the
 * shipped digits model: 150 s instead of 26 s), and on digits' test split the
 * cross-fitted quantile covered 0.952 against 0.929 from the validation split
 * at 90% nominal (BENCHMARKS.md, issue 15's fifth session).
 */
function crossFitted<T>(architecture: Architecture, outOfFold: () => Promise<T>): (() => Promise<T>) | null {
  return architecture.kind === 'cnn' ? null : outOfFold;
}

/**
 * Out-of-fold outputs for every training and validation row of a split: the
 * rows (whole groups) are dealt to 5 stratified folds, and for each fold
 * `trainAndPredict` trains a network on the other folds and predicts the
 * fold. The test rows play no part.
 * @param trainAndPredict given the positions learnt from and those predicted, and a seed, the outputs of the latter
 */
export async function outOfFold(
  prepared: PreparedData,
  split: DataSplit,
  seed: number,
  trainAndPredict: (kept: number[], held: number[], seed: number) => Promise<number[][]>,
): Promise<Omit<CalibrationRows, 'source'>> {
  const positions = [...split.train, ...split.validation];
  const groups = prepared.groups ?? prepared.rows.map(String);
  const strata = splitStrata(prepared);
  const foldOf = assignFolds(positions.map((p) => groups[p]!), positions.map((p) => strata[p]!), crossFitFolds, seed + 31);
  const outputs: number[][] = new Array(positions.length);
  for (let fold = 0; fold < crossFitFolds; fold++) {
    const held = positions.flatMap((_, k) => (foldOf[k] === fold ? [k] : []));
    if (held.length === 0) continue;
    const predicted = await trainAndPredict(positions.filter((_, k) => foldOf[k] !== fold), held.map((k) => positions[k]!), seed + 200 + fold);
    held.forEach((k, i) => (outputs[k] = predicted[i]!));
  }
  return { outputs, y: positions.map((p) => prepared.targets[p]!) };
}

/**
 * One cross-fitted network like the stored one (same architecture and
 * settings, preprocessing fitted on its own rows), trained for exactly the
 * stored network's best epoch count (no early stopping: no row chooses the
 * epoch of the network that scores it), and its outputs on the held rows.
 * @param epochs the stored network's best epoch (at least 1)
 */
function crossFittedDense(prepared: PreparedData, objective: Objective, architecture: Architecture, options: TrainModelOptions, epochs: number) {
  return async (kept: number[], held: number[], seed: number): Promise<number[][]> => {
    const state = fitPreprocessing(prepared, kept, options.image?.pixelScale);
    const train = { x: encodeRows(state, prepared.values, kept), y: kept.map((p) => prepared.targets[p]!) };
    const settings = { ...trainingDefaults(architecture.kind, kept.length), ...options.training, epochs: Math.max(1, epochs) };
    const network = buildNetwork(architecture, networkShape(objective, prepared, state), seed);
    try {
      await fitNetwork(network, train, null, { objective, classes: prepared.labels?.length ?? 1, settings, seed, fixedEpochs: true });
      return await predictWith(network, encodeRows(state, prepared.values, held));
    } finally {
      network.dispose();
    }
  };
}

/**
 * Per calibration row, its output under the stored network's recalibration,
 * what the conformal quantile is fitted on: validation rows under the map
 * cross-fitted without them; out-of-fold outputs under the map (fitted on
 * the validation split's outputs of the stored network, not on theirs).
 */
export function conformalOutputs(objective: Objective, rows: CalibrationRows, recalibrated: { calibration: Calibration; heldOut: number[][] } | null): number[][] {
  if (!recalibrated) return rows.outputs;
  if (rows.source === 'validation') return recalibrated.heldOut;
  const mapped = classProbabilities(objective, rows.outputs).map((row) => applyCalibration(recalibrated.calibration, row));
  return objective === 'binary' ? mapped.map((row) => [row[1]!]) : mapped;
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

export function originalRows(prepared: PreparedData, split: DataSplit): DataSplit {
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
