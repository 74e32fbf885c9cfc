/*
 * Sequence models: a GRU over each patient's visits up to the one predicted,
 * against a logistic regression on the last visit, both evaluated on the
 * same test patients with patient-level bootstrap intervals.
 */
import { buildNetwork, defaultArchitectures } from './architectures.ts';
import { loadModelArtifact, saveModelArtifact } from './artifact.ts';
import { cellAt, type Dataset } from './csv.ts';
import { badOption } from './errors.ts';
import { evaluate, type EvaluationTarget } from './evaluate.ts';
import { matrixFromRows, type Matrix } from './matrix.ts';
import {
  calibrationRows,
  checkOptions,
  conformalOutputs,
  counts,
  defaultResamples,
  defaultSeed,
  evaluationStep,
  foldProgress,
  foldSeed,
  loadData,
  originalRows,
  outOfFold,
  predictWith,
  recalibrate,
  scoreFold,
  storedNetworks,
  subgroupColumns,
  trainingDefaults,
  trainingRecord,
  type TrainingResult,
  type TrainModelOptions,
  trivialOutput,
} from './pipeline.ts';
import { crossValidate } from './cross-validation.ts';
import { type DataSplit, defaultSplit, fitPreprocessing, groupedSplit, type PreprocessingState, splitStrata } from './preprocess.ts';
import { assessDataQuality, type CleanValue } from './quality.ts';
import { type CleanVisit, fillStatic, lastVisitRow, type SequenceEncoding, sequenceRow, stepWidth } from './sequence-encoding.ts';
import { eventLabels, labelEventWithin, readTimeline, type SequenceOptions, type Timeline } from './sequence-data.ts';
import { mean } from './stats.ts';
import { initTensorflow, tf } from './tensorflow.ts';
import { fitNetwork, type ProgressCallback, type TrainingData, type TrainingSettings } from './train.ts';
import { chooseThreshold, defaultCoverage, fitConformal, measureConformal } from './uncertainty.ts';

/** The recurrent network: units of its GRU and the visits it sees. */
export interface SequenceArchitecture {
  kind: 'gru';
  units: number;
  steps: number;
}

export const defaultSequence = { steps: 16, units: 16 };

/** GRU training: small data, so full passes with patience; no dropout (the loop's seeded masks apply to Dropout layers only). */
export const sequenceTraining: TrainingSettings = { epochs: 60, batchSize: 64, learningRate: 0.005, patience: 10, l2: 0.0001 };

export type TrainSequenceOptions = TrainModelOptions & { sequence: SequenceOptions };

/**
 * Trains a sequence model on a longitudinal file (one row per visit).
 * Examples are the visits with a label; each sees its patient's visits up to
 * and including itself. Visits without a label (censored windows) are
 * history for later visits, never examples. The split is by patient, and
 * so are the folds of cross-validation (when asked), whose figures set the
 * GRU against the last-visit baseline fold by fold.
 * @throws PipelineError BAD_OPTION for a task other than binary or absent sequence columns; BAD_DATA for unusable rows
 */
export async function trainSequenceModel(options: TrainSequenceOptions): Promise<TrainingResult> {
  checkOptions(options);
  const { sequence } = options;
  const engine = await initTensorflow();
  const seed = options.seed ?? defaultSeed;
  const data = prepareSequenceData(await loadData(options.data, options.onStage), options);
  const { labelled, prepared } = data;
  const dataset = labelled.dataset;
  const fractions = { ...defaultSplit, ...options.split };
  const strata = splitStrata(prepared);
  const split = groupedSplit(prepared.groups!, strata, fractions, seed);
  const crossValidation = options.crossValidation
    ? await crossValidate(
        options.crossValidation,
        { kind: 'binary', labels: prepared.labels, threshold: typeof options.threshold === 'number' ? options.threshold : 0.5 },
        prepared.groups!,
        strata,
        sequence.id,
        seed,
        async (foldSplit, fold) => {
          const fitted = await fitSequencePair(data, foldSplit, options, foldSeed(seed, fold), foldProgress(options, fold));
          try {
            const rows = await calibrationRows(fitted.network, fitted.validation.sequence, () =>
              outOfFold(prepared, foldSplit, foldSeed(seed, fold), crossFittedGru(data, options, fitted.fit.bestEpoch)),
            );
            return await scoreFold(
              { ...fitted, validation: fitted.validation.sequence },
              { network: fitted.test.sequence, baseline: fitted.test.last },
              'binary',
              prepared.labels,
              options,
              rows,
            );
          } finally {
            fitted.dispose();
          }
        },
        lastVisitBaseline,
      )
    : null;

  const fitted = await fitSequencePair(data, split, options, seed, options.onProgress);
  const { network, baseline, state, encoding, validation, test } = fitted;
  try {
    const evaluationStarted = performance.now();
    const step = evaluationStep(options);
    step('recalibration', 0);
    const rows = await calibrationRows(network, validation.sequence, () => outOfFold(prepared, split, seed, crossFittedGru(data, options, fitted.fit.bestEpoch)));
    const recalibrated = options.calibrate === false ? null : await recalibrate(network, 'binary', prepared.labels, validation.sequence, test.sequence);
    const { artifact, weightsSha256 } = await saveModelArtifact(network);
    const saved = await loadModelArtifact(artifact);
    const [validationOutputs, testOutputs] = [await predictWith(saved, validation.sequence.x), await predictWith(saved, test.sequence.x)];
    saved.dispose();
    const chosen = chooseThreshold(options.threshold ?? 0.5, validation.sequence.y, validationOutputs.map((row) => row[0]!));
    const target: EvaluationTarget = { kind: 'binary', labels: prepared.labels, threshold: chosen.threshold };
    // Coverage and metrics share the patient-level bootstrap: visits of one patient are alike.
    const bootstrap = {
      resamples: options.bootstrap?.resamples ?? defaultResamples(split.test.length),
      level: options.bootstrap?.level ?? 0.95,
      seed,
      groups: split.test.map((position) => prepared.groups![position]!),
    };
    const conformal = measureConformal(
      fitConformal('binary', conformalOutputs('binary', rows, recalibrated), rows.y, options.coverage ?? defaultCoverage, rows.source),
      'binary',
      testOutputs,
      test.sequence.y,
      bootstrap,
    );
    step('metrics and bootstrap intervals', 0.5);
    const evaluation = evaluate({
      target,
      actual: test.sequence.y,
      model: testOutputs,
      baseline: await predictWith(baseline, test.last.x),
      trivial: new Array(test.sequence.x.rows).fill(trivialOutput('binary', fitted.train.sequence.y, 2)),
      baselineDescription: lastVisitBaseline,
      trivialDescription: 'the training class shares for everyone',
      subgroupColumns: subgroupColumns(dataset, prepared, split.test),
      bootstrap,
    });
    const durationMs = { ...fitted.durationMs, evaluation: performance.now() - evaluationStarted };
    return {
      formatVersion: 1,
      trainedAt: new Date().toISOString(),
      task: 'binary',
      target: options.target,
      outcomeLabel: options.outcomeLabel ?? `probability of ${prepared.report.positiveClass}`,
      classLabels: prepared.labels,
      positiveClass: prepared.report.positiveClass,
      threshold: chosen.threshold,
      thresholdRule: chosen.rule,
      conformal,
      calibration: recalibrated?.calibration ?? null,
      autoencoder: null,
      image: null,
      ...storedNetworks(state, options.featureSpec, { artifact, weightsSha256 }, { ...fitted.architecture, network }, { description: evaluation.baseline.description, network: baseline }),
      sequence: encoding,
      training: trainingRecord(seed, fitted.settings, fitted.baselineSettings, engine, fitted.fit, fitted.baselineFit, durationMs),
      datasetSha256: dataset.sha256,
      datasetSource: dataset.source,
      split: { fractions, seed, stratifiedBy: 'class', groupedBy: sequence.id, ...originalRows(prepared, split) },
      counts: counts(prepared, split),
      quality: prepared.report,
      evaluation,
      ...(crossValidation ? { crossValidation } : {}),
    };
  } finally {
    fitted.dispose();
  }
}

const lastVisitBaseline = 'logistic regression on the last visit';

/**
 * Fits the GRU and its last-visit baseline on one split of the patients:
 * preprocessing, gap scale and static features from the training patients
 * only, early stopping on the validation patients; the test patients'
 * examples are encoded for scoring. The caller disposes of the networks.
 */
async function fitSequencePair(
  data: SequenceData,
  split: DataSplit,
  options: TrainSequenceOptions,
  seed: number,
  onProgress: ProgressCallback | undefined,
) {
  const units = options.sequence.units ?? defaultSequence.units;
  const { state, encoding, train, validation, test } = encodeSequenceSplit(data, split, options);
  const architecture: SequenceArchitecture = { kind: 'gru', units, steps: encoding.steps };
  const settings = { ...sequenceTraining, ...options.training };
  const baselineSettings = { ...trainingDefaults('linear', split.train.length), ...options.baselineTraining };
  const network = buildSequenceNetwork(encoding, units, seed);
  const baseline = buildNetwork(defaultArchitectures.linear, { inputSize: train.last.x.columns, outputUnits: 1, outputActivation: 'sigmoid' }, seed + 1000);
  const dispose = () => {
    network.dispose();
    baseline.dispose();
  };
  try {
    const started = performance.now();
    const progress = onProgress ? { onProgress } : {};
    const fit = await fitNetwork(network, train.sequence, validation.sequence, { objective: 'binary', classes: 2, settings, seed, ...progress });
    const modelDone = performance.now();
    const baselineFit = await fitNetwork(baseline, train.last, validation.last, { objective: 'binary', classes: 2, settings: baselineSettings, seed: seed + 1, phase: 'baseline', ...progress });
    const durationMs = { model: modelDone - started, baseline: performance.now() - modelDone };
    return { state, encoding, architecture, network, baseline, train, validation, test, fit, baselineFit, settings, baselineSettings, durationMs, dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}

/**
 * One cross-fitted GRU (preprocessing, gap scale and static features from
 * its own patients), trained for exactly the stored GRU's best epoch count,
 * and its outputs on the held examples (see outOfFold).
 */
function crossFittedGru(data: SequenceData, options: TrainSequenceOptions, epochs: number) {
  return async (kept: number[], held: number[], seed: number): Promise<number[][]> => {
    const { encoding, train, test } = encodeSequenceSplit(data, { train: kept, validation: [], test: held }, options);
    const network = buildSequenceNetwork(encoding, options.sequence.units ?? defaultSequence.units, seed);
    const settings = { ...sequenceTraining, ...options.training, epochs: Math.max(1, epochs) };
    try {
      await fitNetwork(network, train.sequence, null, { objective: 'binary', classes: 2, settings, seed, fixedEpochs: true });
      return await predictWith(network, test.sequence.x);
    } finally {
      network.dispose();
    }
  };
}

type SequenceData = ReturnType<typeof prepareSequenceData>;

/**
 * Encodes one split of the patients: preprocessing, gap scale and static
 * features from the training patients only; every part's examples as
 * sequences (the GRU's input) and last visits (the baseline's).
 */
function encodeSequenceSplit(data: SequenceData, split: DataSplit, options: TrainSequenceOptions) {
  const { timeline, labelled, prepared } = data;
  const { sequence } = options;
  const steps = sequence.steps ?? defaultSequence.steps;
  const state = fitPreprocessing(prepared, split.train);
  const visits = cleanVisits(labelled.dataset, timeline, state, options);
  const trainPatients = new Set(split.train.map((position) => prepared.groups![position]!));
  const encoding: SequenceEncoding = {
    id: sequence.id,
    time: sequence.time,
    steps,
    width: stepWidth(state),
    gapScale: meanGap(timeline, trainPatients),
    staticFeatures: staticFeatures(state, visits, trainPatients),
    description: describeExamples(options.target, sequence, prepared.rows.length, labelled.censored, timeline.patients.size, steps),
  };
  const staticIndices = encoding.staticFeatures.map((name) => (state.kind === 'tabular' ? state.features.findIndex((feature) => feature.name === name) : -1));
  const filled = new Map([...visits].map(([patient, list]) => [patient, fillStatic(list, staticIndices)]));
  const part = (positions: number[]) => examples(prepared.rows, positions, timeline, filled, encoding, state, prepared.targets);
  const [train, validation, test] = [part(split.train), part(split.validation), part(split.test)];
  return { state, encoding, train, validation, test };
}

/**
 * Reads who and when of every visit, labels the visits (when asked) and
 * checks the data's quality, with the patient column as the group and the
 * time and label-source columns left out of the features.
 * @throws PipelineError BAD_OPTION for an absent sequence column; BAD_DATA for a time that is not a number or unusable data
 */
export function prepareSequenceData(read: Dataset, options: TrainSequenceOptions) {
  const { sequence } = options;
  checkSequenceOptions(options);
  const timeline = readTimeline(read, sequence);
  const labelled = sequence.eventWithin ? labelEventWithin(read, timeline, sequence.eventWithin, options.target) : { dataset: read, censored: null };
  const sourceColumns = sequence.eventWithin ? [sequence.eventWithin.followUp, sequence.eventWithin.status] : [];
  const prepared = assessDataQuality(
    labelled.dataset,
    {
      ...options,
      ...(sequence.eventWithin ? { positiveClass: eventLabels.positive } : {}),
      group: sequence.id,
      exclude: [...(options.exclude ?? []), sequence.time, ...sourceColumns],
    },
    options.onStage,
  );
  return { timeline, labelled, prepared };
}

function checkSequenceOptions(options: TrainSequenceOptions): void {
  const { steps = defaultSequence.steps, units = defaultSequence.units } = options.sequence;
  if (options.task !== 'binary') throw badOption('Sequence models predict a yes/no outcome: use the task "binary".');
  if (options.group !== undefined && options.group !== options.sequence.id) throw badOption('A sequence model is split by its sequence id column; leave the group out.');
  if (!Number.isInteger(steps) || steps < 1 || steps > 64 || !Number.isInteger(units) || units < 1 || units > 256) {
    throw badOption('steps must be an integer from 1 to 64 and units from 1 to 256.');
  }
}

/**
 * The GRU network: the flat row reshaped to [steps, width], a GRU, a dense
 * output and a separate sigmoid (so training works on logits and
 * calibration folds into the dense layer). Initial weights are seeded.
 */
export function buildSequenceNetwork(encoding: Pick<SequenceEncoding, 'steps' | 'width'>, units: number, seed: number): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.reshape({ targetShape: [encoding.steps, encoding.width], inputShape: [encoding.steps * encoding.width] }));
  model.add(
    tf.layers.gru({
      units,
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 1 }),
      biasInitializer: 'zeros',
    }),
  );
  model.add(tf.layers.dense({ units: 1, activation: 'linear', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }), biasInitializer: 'zeros' }));
  model.add(tf.layers.activation({ activation: 'sigmoid' }));
  return model;
}

/** Every patient's visits, cleaned as the preprocessing expects; impossible values (feature specification) are missing. */
function cleanVisits(dataset: Dataset, timeline: Timeline, state: PreprocessingState, options: TrainModelOptions): Map<string, CleanVisit[]> {
  if (state.kind !== 'tabular') throw badOption('Sequence models take tabular visits, not images.');
  const columns = state.features.map((feature) => {
    const possible = options.featureSpec?.features[feature.name]?.possibleRange ?? null;
    return { feature, cells: dataset.data.get(feature.name)!, possible };
  });
  const clean = (row: number): CleanValue[] =>
    columns.map(({ feature, cells, possible }) => {
      const cell = cellAt(cells, row);
      if (cell.kind === 'missing') return null;
      if (feature.kind === 'categorical') return String(cell.value);
      if (cell.kind !== 'number' || (possible && (cell.value < possible[0] || cell.value > possible[1]))) return null;
      return cell.value;
    });
  return new Map([...timeline.patients].map(([patient, rows]) => [patient, rows.map((row) => ({ time: timeline.times[row]!, values: clean(row) }))]));
}

/** The mean time between consecutive visits of training patients (1 when no patient has two). */
function meanGap(timeline: Timeline, patients: Set<string>): number {
  const gaps = [...patients].flatMap((patient) => {
    const rows = timeline.patients.get(patient)!;
    return rows.slice(1).map((row, k) => timeline.times[row]! - timeline.times[rows[k]!]!);
  });
  const gap = gaps.length > 0 ? mean(gaps) : 0;
  return gap > 0 ? gap : 1;
}

/** Features that never change within a training patient (missing values aside), such as sex or age at entry. */
function staticFeatures(state: PreprocessingState, visits: Map<string, CleanVisit[]>, patients: Set<string>): string[] {
  if (state.kind !== 'tabular') return [];
  return state.features
    .filter((_, index) =>
      [...patients].every((patient) => new Set(visits.get(patient)!.map((visit) => visit.values[index]).filter((value) => value !== null)).size <= 1),
    )
    .map((feature) => feature.name);
}

/** The sequence rows (model) and last-visit rows (baseline) of the examples at these positions. */
function examples(
  rows: readonly number[],
  positions: readonly number[],
  timeline: Timeline,
  visits: Map<string, CleanVisit[]>,
  encoding: SequenceEncoding,
  state: PreprocessingState,
  targets: readonly number[],
): { sequence: TrainingData; last: TrainingData } {
  const sequence = new Float32Array(positions.length * encoding.steps * encoding.width);
  const last: number[][] = [];
  positions.forEach((position, k) => {
    const row = rows[position]!;
    const patient = timeline.patientOf[row]!;
    const history = visits.get(patient)!.slice(0, timeline.patients.get(patient)!.indexOf(row) + 1);
    sequence.set(sequenceRow(encoding, state, history), k * encoding.steps * encoding.width);
    last.push(lastVisitRow(state, history.at(-1)!));
  });
  const y = positions.map((position) => targets[position]!);
  const x: Matrix = { values: sequence, rows: positions.length, columns: encoding.steps * encoding.width };
  return { sequence: { x, y }, last: { x: matrixFromRows(last), y } };
}

function describeExamples(target: string, sequence: SequenceOptions, examples: number, censored: number | null, patients: number, steps: number): string {
  const rule = sequence.eventWithin;
  const label = rule
    ? `Each visit is labelled "${target}" = yes when ${rule.status} is ${rule.eventValues.join(' or ')} and ${rule.followUp} lies within ${rule.horizon} (time units of ${sequence.time}) of the visit, no when follow-up reaches past that window; ${censored} visit(s) whose window ends censored (follow-up ends inside it without the event, e.g. other status values) have no label: they are history for later visits, never examples.`
    : `Visits with an empty ${target} are history for later visits, never examples.`;
  return `${label} ${examples} labelled visits of ${patients} patients are examples; each sees its patient's last ${steps} visits up to and including itself (ordered by ${sequence.time}); patients (${sequence.id}) are split, never visits.`;
}
