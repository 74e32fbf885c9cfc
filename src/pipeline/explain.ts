import type { RawValue } from './csv.ts';
import { PipelineError } from './errors.ts';
import { argmax } from './metrics.ts';
import { baselineRow, columnFeatureIndex, type NumericTransform } from './preprocess.ts';
import { explainHistory } from './explain-history.ts';
import { encodeInput, type FeatureInfo, type ModelInput, type SequenceHistory, type ServingModel } from './serving.ts';
import { formatNumber } from './stats.ts';
import { tf } from './tensorflow.ts';
import { parseCell } from './values.ts';

export interface IntegratedGradients {
  /** Per model input column, in output units. */
  attributions: number[];
  /** The explained output at the input and at the baseline. */
  output: number;
  baselineOutput: number;
  /** sum(attributions) - (output - baselineOutput); 0 for exact integration. */
  gap: number;
}

/**
 * Integrated gradients (Sundararajan et al. 2017) of one output of a network:
 * attribution_i = (x_i - b_i) * mean over the straight path from b to x of
 * d output / d x_i, the mean taken by the trapezoid rule over `steps` intervals.
 * The output is picked with a one-hot mask multiply, not a gather, whose
 * gradient the wasm backend lacks.
 * @param model a network taking rows of the input's length
 * @param input the model row explained
 * @param baseline the reference row
 * @param outputMask one weight per output unit; 1 on the explained output, 0 elsewhere
 */
export function integratedGradients(
  model: tf.LayersModel,
  input: readonly number[],
  baseline: readonly number[],
  outputMask: readonly number[],
  steps = 50,
): IntegratedGradients {
  if (!Number.isInteger(steps) || steps < 1) throw new PipelineError('BAD_INPUT', 'steps must be a positive integer.');
  return tf.tidy(() => {
    const x = tf.tensor2d([input as number[]]);
    const b = tf.tensor2d([baseline as number[]]);
    const alphas = tf.reshape(tf.linspace(0, 1, steps + 1), [steps + 1, 1]);
    const path = tf.add(b, tf.mul(alphas, tf.sub(x, b)));
    const mask = tf.tensor2d([outputMask as number[]]);
    const selected = (rows: tf.Tensor) => tf.sum(tf.mul(model.apply(rows) as tf.Tensor, mask), 1);
    const gradients = tf.grad((rows: tf.Tensor) => tf.sum(selected(rows)))(path);
    const weights = Array.from({ length: steps + 1 }, (_, k) => (k === 0 || k === steps ? 0.5 : 1) / steps);
    const meanGradient = tf.sum(tf.mul(gradients, tf.tensor2d(weights, [steps + 1, 1])), 0);
    const attributions = Array.from(tf.mul(tf.sub(x, b), meanGradient).dataSync());
    const ends = selected(tf.concat([b, x])).dataSync();
    const [baselineOutput, output] = [ends[0]!, ends[1]!];
    return { attributions, output, baselineOutput, gap: attributions.reduce((sum, a) => sum + a, 0) - (output - baselineOutput) };
  });
}

/**
 * Completeness check of attributions: flagged when |gap| exceeds `tolerance`
 * times |output - baseline output|, meaning the integral is poorly approximated
 * and the attributions should not be trusted as they are.
 */
export function completenessFlagged(gap: number, outputChange: number, tolerance = 0.05): boolean {
  return Math.abs(gap) > tolerance * Math.abs(outputChange);
}

/**
 * Integrated gradients refined until complete: ReLU kinks (or a GRU's
 * curvature) along the path can defeat a coarse integral, so the steps are
 * quadrupled while the completeness check fails, up to maxSteps.
 */
export function refinedIntegratedGradients(
  model: tf.LayersModel,
  input: readonly number[],
  baseline: readonly number[],
  outputMask: readonly number[],
  options: ExplainOptions,
): { result: IntegratedGradients; steps: number } {
  let steps = options.steps ?? 50;
  let result = integratedGradients(model, input, baseline, outputMask, steps);
  while (completenessFlagged(result.gap, result.output - result.baselineOutput) && steps * 4 <= (options.maxSteps ?? 800)) {
    steps *= 4;
    result = integratedGradients(model, input, baseline, outputMask, steps);
  }
  return { result, steps };
}

/** A sequence model's share of one feature's attribution at one visit. */
export interface VisitAttribution {
  /** The visit's time (the history's time unit, days). */
  time: number;
  /** The value at that visit; null when it was not measured (the network saw its missing indicator). */
  value: number | string | null;
  /** Signed, in output units: the feature's value and missing-indicator columns at this visit. */
  attribution: number;
}

export interface FeatureAttribution {
  feature: string;
  label: string | null;
  unit: string | null;
  /** The value used (after cleaning; the imputed value when it was missing). */
  value: number | string;
  imputed: boolean;
  /** Training mean (numeric) or most frequent level (text). */
  typical: number | string;
  /** Signed, in output units; one-hot columns of the feature summed. */
  attribution: number;
  /** The attribution in plain words. */
  text: string;
  /** Sequence models: the attribution visit by visit (they sum to `attribution`), oldest first. */
  visits?: VisitAttribution[];
}

export interface TabularExplanation {
  method: 'integrated-gradients';
  /** Integration intervals used (more than asked when the first integral failed the completeness check). */
  steps: number;
  baseline: string;
  /** What the attributions are in, e.g. "probability of malignant". */
  outputName: string;
  output: number;
  baselineOutput: number;
  /** Every feature, largest |attribution| first. */
  attributions: FeatureAttribution[];
  /** Plain sentences for the largest attributions. */
  top: string[];
  completenessGap: number;
  completenessFlagged: boolean;
  warnings: string[];
}

export interface ExplainOptions {
  /** Integration intervals (default 50). */
  steps?: number;
  /** When the completeness check fails, the steps are quadrupled up to this many (default 800). */
  maxSteps?: number;
  /** How many sentences in `top` (default 5). */
  top?: number;
}

/**
 * Explains one prediction of a tabular model with integrated gradients
 * against a typical training row (standardized 0 = the training mean; one-hot
 * columns at the training share of each level), in the model's output units:
 * the probability of the positive class (binary), of the predicted class
 * (multiclass), or the predicted value (regression). When the attributions
 * miss the output change by more than 5% (ReLU kinks on the path), the
 * integral is refined with four times the steps, up to maxSteps. A
 * sequence model is explained over the patient's visits (explainHistory).
 * @param serving a loaded model
 * @param input raw values by feature name (a sequence model: the patient's visits)
 * @throws PipelineError BAD_INPUT for impossible values; BAD_OPTION for an image model (use saliencyMap)
 */
export function explainPrediction(serving: ServingModel, input: Record<string, RawValue> | SequenceHistory, options: ExplainOptions = {}): TabularExplanation {
  const { stored } = serving;
  const state = stored.preprocessing;
  if (state.kind !== 'tabular') throw new PipelineError('BAD_INPUT', 'Image models are explained with a saliency map, not feature attributions.');
  if (stored.sequence) return explainHistory(serving, stored.sequence, input, options);
  // encodeInput refuses a history for a model without a sequence encoding, so the input is values by name from here.
  const { row, warnings } = encodeInput(stored, input);
  const values = input as Record<string, RawValue>;
  const probabilities = tf.tidy(() => Array.from((serving.model.predict(tf.tensor2d([row])) as tf.Tensor).dataSync()));
  const explained = stored.task === 'multiclass' ? argmax(probabilities) : 0;
  const mask = probabilities.map((_, k) => (k === explained ? 1 : 0));
  const { result, steps } = refinedIntegratedGradients(serving.model, row, baselineRow(state), mask, options);
  const outputName = stored.task === 'multiclass' ? `probability of ${stored.classLabels![explained]}` : stored.outcomeLabel;
  const columnOwner = columnFeatureIndex(state);
  const attributions = stored.features
    .map((feature, index) => {
      const attribution = result.attributions.reduce((sum, a, column) => (columnOwner[column] === index ? sum + a : sum), 0);
      const transform = state.features[index]!;
      const cell = parseCell(values[feature.name]);
      const imputed = cell.kind === 'missing';
      const value = imputed ? (transform.kind === 'numeric' ? transform.median : transform.mode) : cell.value;
      return { feature: feature.name, label: feature.label, unit: feature.unit, value, imputed, typical: feature.typical, attribution, text: '' };
    })
    .map((item, index) => ({ ...item, text: describe(item, outputName, '', valueCoding(state.features[index]!, stored.features[index]!)) }));
  const baseline = 'a typical training row: every numeric feature at its training mean, text features at their training shares';
  return attributionExplanation({ result, steps }, { baseline, outputName, attributions, warnings }, options);
}

/** An explanation from integrated gradients and its worded attributions, largest first; the same shape for rows and histories. */
export function attributionExplanation(
  { result, steps }: { result: IntegratedGradients; steps: number },
  parts: { baseline: string; outputName: string; attributions: FeatureAttribution[]; warnings: string[] },
  options: ExplainOptions,
): TabularExplanation {
  const attributions = [...parts.attributions].sort((a, b) => Math.abs(b.attribution) - Math.abs(a.attribution));
  return {
    method: 'integrated-gradients',
    steps,
    baseline: parts.baseline,
    outputName: parts.outputName,
    output: result.output,
    baselineOutput: result.baselineOutput,
    attributions,
    top: attributions.slice(0, options.top ?? 5).map((item) => item.text),
    completenessGap: result.gap,
    completenessFlagged: completenessFlagged(result.gap, result.output - result.baselineOutput),
    warnings: parts.warnings,
  };
}

/** How a feature's values are spoken of: names of coded values, and for a number of two values in training, the two. */
export interface ValueCoding {
  /** Names of the values from the feature specification (`levels`), e.g. { "1": "female" }. */
  names: Record<string, string>;
  /** A numeric feature that took two values in training (a 0/1 flag, sex coded 1 and 2), with the training share of the higher. */
  twoValues: { low: number; high: number; highShare: number } | null;
}

/**
 * How a feature's values are spoken of. A number of two values is recognised
 * from its fitted statistics alone (so versions stored before this are
 * explained alike): a variance reaches (max - mean)(mean - min) only when
 * every value lies at the minimum or the maximum (Bhatia and Davis, 2000).
 */
export function valueCoding(transform: NumericTransform | { kind: 'categorical' }, feature: Pick<FeatureInfo, 'levelNames'>): ValueCoding {
  const names = feature.levelNames ?? {};
  if (transform.kind !== 'numeric') return { names, twoValues: null };
  const { min, max, mean, std } = transform;
  const width = max - min;
  const two = width > 0 && Math.abs(std ** 2 - (max - mean) * (mean - min)) <= 1e-9 * width ** 2;
  return { names, twoValues: two ? { low: min, high: max, highShare: (mean - min) / width } : null };
}

/**
 * e.g. "mean_concave_points 0.15 above typical (0.049), raised probability of malignant by 0.22"
 * (`when` follows the name: " at the latest visit");
 * categories speak as categories: "sex: female rather than the training mix (mostly male), lowered ...",
 * and so do numbers of two values: "sex: 2 rather than 1 (training rows: 47% 2), raised ...",
 * by the specification's names of the values when it gives them.
 */
export function describe(item: FeatureAttribution, outputName: string, when = '', coding: ValueCoding = { names: {}, twoValues: null }): string {
  const unit = item.unit ? ` ${item.unit}` : '';
  const missing = `${when}${item.imputed ? ' (missing, filled from training)' : ''}`;
  const effect = item.attribution === 0 ? `did not change ${outputName}` : `${item.attribution > 0 ? 'raised' : 'lowered'} ${outputName} by ${formatNumber(Math.abs(item.attribution), 2)}`;
  const name = (value: number | string) => coding.names[String(value)] ?? (typeof value === 'number' ? formatNumber(value) : value);
  const two = coding.twoValues;
  if (two && (item.value === two.low || item.value === two.high)) {
    const other = item.value === two.low ? two.high : two.low;
    return `${item.feature}${missing}: ${name(item.value)} rather than ${name(other)} (training rows: ${Math.round(two.highShare * 100)}% ${name(two.high)}), ${effect}`;
  }
  if (typeof item.value === 'number' && typeof item.typical === 'number') {
    const difference = item.value - item.typical;
    const side = difference > 0 ? 'above' : 'below';
    const where = difference === 0 ? `at typical (${formatNumber(item.typical)}${unit})` : `${formatNumber(Math.abs(difference), 2)}${unit} ${side} typical (${formatNumber(item.typical)}${unit})`;
    return `${item.feature}${missing} ${where}, ${effect}`;
  }
  // A category's reference is the training mix of its levels, not one level.
  return `${item.feature}${missing}: ${name(item.value)} rather than the training mix (mostly ${name(item.typical)}), ${effect}`;
}

export interface SaliencyMap {
  method: 'gradient-saliency';
  /** The predicted class whose probability is differentiated. */
  label: string;
  probability: number;
  width: number;
  height: number;
  /** values[row][column]: d probability / d pixel, per unit of the raw pixel value. */
  values: number[][];
}

/**
 * A saliency map of an image model: the gradient of the predicted class's
 * probability with respect to each pixel, laid out like the image.
 * @param serving a loaded image model
 * @param pixels the image (flat row-major, or rows of pixels)
 * @throws PipelineError BAD_INPUT for a wrong size or impossible pixels, or a model that is not an image model
 */
export function saliencyMap(serving: ServingModel, pixels: ModelInput): SaliencyMap {
  const { stored } = serving;
  const state = stored.preprocessing;
  if (state.kind !== 'image') throw new PipelineError('BAD_INPUT', 'A saliency map needs an image model.');
  const { row } = encodeInput(stored, pixels);
  const probabilities = tf.tidy(() => Array.from((serving.model.predict(tf.tensor2d([row])) as tf.Tensor).dataSync()));
  const predicted = argmax(probabilities);
  const gradient = tf.tidy(() => {
    const mask = tf.oneHot([predicted], probabilities.length).toFloat();
    const probability = (x: tf.Tensor) => tf.sum(tf.mul(serving.model.apply(x) as tf.Tensor, mask));
    return Array.from(tf.grad(probability)(tf.tensor2d([row])).dataSync());
  });
  // The model sees pixel / scale, so d p / d pixel = (d p / d input) / scale.
  const values = Array.from({ length: state.height }, (_, y) => gradient.slice(y * state.width, (y + 1) * state.width).map((g) => g / state.scale));
  return { method: 'gradient-saliency', label: stored.classLabels![predicted]!, probability: probabilities[predicted]!, width: state.width, height: state.height, values };
}
