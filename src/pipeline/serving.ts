import { type ModelArtifact, loadModelArtifact } from './artifact.ts';
import type { RawValue } from './csv.ts';
import { PipelineError } from './errors.ts';
import { argmax } from './metrics.ts';
import { encodeRow, type PreprocessingState } from './preprocess.ts';
import type { CleanValue, Task } from './quality.ts';
import { tf } from './tensorflow.ts';
import { type Conformal, predictionSetIndices } from './uncertainty.ts';
import { type Autoencoder, assessNovelty, type NoveltyScore } from './autoencoder.ts';
import { parseCell } from './values.ts';
import { type CleanVisit, fillStatic, type SequenceEncoding, sequenceRow, type Visit } from './sequence-encoding.ts';

/** One model input as the registry describes it. */
export interface FeatureInfo {
  name: string;
  kind: 'numeric' | 'categorical';
  label: string | null;
  /** null when the data defines no unit. */
  unit: string | null;
  /** Smallest and largest value seen in training (numeric features). */
  trainingRange: { min: number; max: number } | null;
  /** Physiologically possible values (from the feature specification); inputs outside are refused. */
  possibleRange: { min: number; max: number } | null;
  /** The training mean (numeric) or most frequent level (text): what "typical" means in explanations. */
  typical: number | string;
  /** Text features: the levels seen in training. */
  levels: string[] | null;
  /** Names of coded values from the feature specification (e.g. { "1": "female", "2": "male" }); absent when it gives none. */
  levelNames?: Record<string, string>;
  /** The clinical code FHIR observations of this feature carry, from the feature specification (absent: none given). */
  code?: { system: string; code: string; display?: string; ucum?: string };
}

/** What serving needs of a trained version (a TrainingResult has all of it). */
export interface StoredModel {
  task: Task;
  target: string;
  /** The output in words, e.g. "probability of malignant" or "predicted progression". */
  outcomeLabel: string;
  classLabels: string[] | null;
  positiveClass: string | null;
  threshold: number | null;
  image: { width: number; height: number } | null;
  features: FeatureInfo[];
  preprocessing: PreprocessingState;
  artifact: ModelArtifact;
  weightsSha256: string;
  /** Split-conformal calibration (absent in versions trained before it existed). */
  conformal?: Conformal;
  /** Tabular models: the out-of-distribution autoencoder (absent in versions trained before it existed). */
  autoencoder?: Autoencoder | null;
  /** Sequence models: how a patient's visits become the input row (their input is a SequenceHistory). */
  sequence?: SequenceEncoding;
}

/** A sequence model's input: the patient's visits up to the one predicted, in time order. */
export interface SequenceHistory {
  visits: readonly Visit[];
}

/** Raw inputs of one case: values by feature name, or an image's pixels (flat row-major, or rows of pixels). */
export type ModelInput = Record<string, RawValue> | readonly number[] | readonly (readonly number[])[] | SequenceHistory;

/** Split-conformal uncertainty of one prediction: the set of classes, or the interval, that covers the truth at the stated rate. */
export interface ConformalPrediction {
  coverage: number;
  set?: string[];
  lower?: number;
  upper?: number;
}

export interface ClassPrediction {
  probabilities: Record<string, number>;
  /** Binary: the positive class when its probability reaches the threshold; multiclass: the most probable class. */
  label: string;
  conformal?: ConformalPrediction;
  warnings: string[];
}

export interface ValuePrediction {
  value: number;
  conformal?: ConformalPrediction;
  warnings: string[];
}

export type Prediction = ClassPrediction | ValuePrediction;

export interface EncodedInputs {
  /** Model input rows, standardized exactly as in training. */
  rows: number[][];
  /** Per input: what was imputed or lies outside the training range. */
  warnings: string[][];
  /** Per input: the autoencoder's out-of-distribution score (null for models without one: sequence, image, older versions). */
  novelty: (NoveltyScore | null)[];
}

export interface ServingModel {
  readonly stored: StoredModel;
  readonly features: FeatureInfo[];
  readonly model: tf.LayersModel;
  /**
   * Turns raw inputs into model rows.
   * @throws PipelineError BAD_INPUT for a value that is impossible or of the wrong type
   */
  encode(inputs: readonly ModelInput[]): EncodedInputs;
  /** The network's raw outputs for a batch: [p(positive)], a probability per class, or [value]. */
  outputs(batch: readonly number[][] | tf.Tensor2D): Promise<number[][]>;
  /** Predictions for a batch of encoded rows (one tensor batch, however many rows). */
  predictEncoded(batch: readonly number[][] | tf.Tensor2D): Promise<Prediction[]>;
  /** encode, then predictEncoded, with each input's warnings. */
  predict(inputs: readonly ModelInput[]): Promise<Prediction[]>;
  dispose(): void;
}

/**
 * Loads a trained version for serving on the active backend.
 * @param stored the version (a TrainingResult, or what a registry kept of it)
 * @throws PipelineError BAD_ARTIFACT when the weights fail their checksum
 */
export async function loadServingModel(stored: StoredModel): Promise<ServingModel> {
  const model = await loadModelArtifact(stored.artifact, stored.weightsSha256);
  const outputs = async (batch: readonly number[][] | tf.Tensor2D) => {
    const result = tf.tidy(() => model.predict(batch instanceof tf.Tensor ? batch : tf.tensor2d(batch as number[][], [batch.length, inputWidth(stored)])) as tf.Tensor);
    try {
      return (await result.array()) as number[][];
    } finally {
      result.dispose();
    }
  };
  const predictEncoded = async (batch: readonly number[][] | tf.Tensor2D) => (await outputs(batch)).map((row) => decode(stored, row));
  const encode = (inputs: readonly ModelInput[]) => {
    const encoded = inputs.map((input) => encodeInput(stored, input));
    return { rows: encoded.map(({ row }) => row), warnings: encoded.map(({ warnings }) => warnings), novelty: encoded.map(({ novelty }) => novelty) };
  };
  return {
    stored,
    features: stored.features,
    model,
    encode,
    outputs,
    predictEncoded,
    async predict(inputs) {
      if (inputs.length === 0) return [];
      const { rows, warnings } = encode(inputs);
      const predictions = await predictEncoded(rows);
      return predictions.map((prediction, i) => ({ ...prediction, warnings: warnings[i]! }));
    },
    dispose: () => model.dispose(),
  };
}

function decode(stored: StoredModel, output: number[]): Prediction {
  const labels = stored.classLabels;
  const { conformal } = stored;
  if (!labels) {
    const value = output[0]!;
    return { value, ...(conformal ? { conformal: { coverage: conformal.coverage, lower: value - conformal.quantile, upper: value + conformal.quantile } } : {}), warnings: [] };
  }
  const probabilities = stored.task === 'binary' ? [1 - output[0]!, output[0]!] : output;
  const label = stored.task === 'binary' ? labels[output[0]! >= stored.threshold! ? 1 : 0]! : labels[argmax(output)]!;
  return {
    probabilities: Object.fromEntries(labels.map((name, k) => [name, probabilities[k]!])),
    label,
    ...(conformal ? { conformal: { coverage: conformal.coverage, set: predictionSetIndices(conformal, probabilities).map((k) => labels[k]!) } } : {}),
    warnings: [],
  };
}

/**
 * Cleans and checks one input, then encodes it with the training preprocessing.
 * @returns the model row, warnings about imputed or out-of-range values, and the autoencoder's out-of-distribution score (null without one)
 */
export function encodeInput(stored: StoredModel, input: ModelInput): { row: number[]; warnings: string[]; novelty: NoveltyScore | null } {
  if (stored.sequence) return { ...encodeHistory(stored, stored.sequence, input), novelty: null };
  if (isHistory(input)) throw new PipelineError('BAD_INPUT', 'This model takes one set of feature values, not a history of visits.');
  const warnings: string[] = [];
  const image = stored.image !== null;
  const raw = Array.isArray(input) ? pixelValues(stored, input as readonly number[] | readonly number[][]) : (input as Record<string, RawValue>);
  const values = stored.features.map((feature) => checkValue(feature, raw[feature.name], image, warnings));
  const row = encodeRow(stored.preprocessing, values);
  if (!stored.autoencoder) return { row, warnings, novelty: null };
  const { warning, ...novelty } = assessNovelty(stored.autoencoder, row);
  if (warning) warnings.push(warning);
  return { row, warnings, novelty };
}

function pixelValues(stored: StoredModel, input: readonly number[] | readonly number[][]): Record<string, RawValue> {
  const flat = (input as readonly (number | readonly number[])[]).flat() as number[];
  if (!stored.image || flat.length !== stored.features.length) {
    throw new PipelineError(
      'BAD_INPUT',
      stored.image
        ? `The image must have ${stored.image.width}x${stored.image.height} = ${stored.features.length} pixels, got ${flat.length}.`
        : 'This model takes named feature values, not a list of numbers.',
    );
  }
  return Object.fromEntries(stored.features.map((feature, i) => [feature.name, flat[i]]));
}

function checkValue(feature: FeatureInfo, value: RawValue, image: boolean, warnings: string[]): CleanValue {
  const cell = parseCell(value);
  if (cell.kind === 'missing') {
    if (image) throw new PipelineError('BAD_INPUT', `Pixel ${feature.name} is missing.`, { feature: feature.name });
    warnings.push(`${feature.name} is missing: filled with the training ${feature.kind === 'numeric' ? 'median' : 'most frequent level'}`);
    return null;
  }
  if (feature.kind === 'categorical') {
    const level = String(cell.value);
    if (!feature.levels!.includes(level)) warnings.push(`${feature.name} = "${level}" was not seen in training: it counts as none of the known levels`);
    return level;
  }
  if (cell.kind !== 'number') {
    throw new PipelineError('BAD_INPUT', `${feature.name} must be a number, got "${cell.value}".`, { feature: feature.name });
  }
  const { possibleRange: possible, trainingRange: seen } = feature;
  if (possible && (cell.value < possible.min || cell.value > possible.max)) {
    throw new PipelineError('BAD_INPUT', `${feature.name} = ${cell.value} is impossible: it must lie between ${possible.min} and ${possible.max}${feature.unit ? ` ${feature.unit}` : ''}.`, {
      feature: feature.name,
      possibleRange: possible,
    });
  }
  if (!image && seen && (cell.value < seen.min || cell.value > seen.max)) {
    warnings.push(`${feature.name} = ${cell.value} is outside the training range ${seen.min} to ${seen.max}: the model extrapolates`);
  }
  return cell.value;
}

/** Values in one model input row. */
function inputWidth(stored: StoredModel): number {
  return stored.sequence ? stored.sequence.steps * stored.sequence.width : stored.preprocessing.columns.length;
}

function isHistory(input: ModelInput): input is SequenceHistory {
  return !Array.isArray(input) && Array.isArray((input as Partial<SequenceHistory>).visits);
}

/**
 * Checks each visit's values as a tabular model would and encodes the
 * history (its last visits, in time order); the warnings are the last visit's.
 */
function encodeHistory(stored: StoredModel, sequence: SequenceEncoding, input: ModelInput): { row: number[]; warnings: string[] } {
  const { history, warnings } = cleanHistory(stored, sequence, input);
  return { row: Array.from(sequenceRow(sequence, stored.preprocessing, history)), warnings };
}

/**
 * A sequence model's input as the network sees it before encoding: every
 * visit checked (impossible values refused), in time order, static features
 * carried onto each visit.
 * @returns the cleaned visits, and the last visit's warnings
 * @throws PipelineError BAD_INPUT for no visits, a visit without a time, or a value that is impossible or of the wrong type
 */
export function cleanHistory(stored: StoredModel, sequence: SequenceEncoding, input: ModelInput): { history: CleanVisit[]; warnings: string[] } {
  if (!isHistory(input) || input.visits.length === 0) throw new PipelineError('BAD_INPUT', 'A sequence model needs the patient\'s visits: { visits: [{ time, values }, ...] }, at least one.');
  const ordered = [...input.visits].sort((a, b) => a.time - b.time);
  if (ordered.some((visit) => !Number.isFinite(visit.time))) throw new PipelineError('BAD_INPUT', 'Every visit needs a time (a number).');
  let warnings: string[] = [];
  const visits = ordered.map((visit) => {
    warnings = [];
    return { time: visit.time, values: stored.features.map((feature) => checkValue(feature, visit.values[feature.name], false, warnings)) };
  });
  const staticIndices = sequence.staticFeatures.map((name) => stored.features.findIndex((feature) => feature.name === name));
  const history = fillStatic(visits, staticIndices);
  // A static value recorded on an earlier visit is not missing on the last one.
  const carried = sequence.staticFeatures.filter((_, k) => history.at(-1)!.values[staticIndices[k]!] !== null);
  return { history, warnings: warnings.filter((warning) => !carried.some((name) => warning.startsWith(`${name} is missing`))) };
}
