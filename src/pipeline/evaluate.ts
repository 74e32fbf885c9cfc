import type { RawValue } from './csv.ts';
import {
  accuracyOf,
  argmax,
  auroc,
  averagePrecision,
  type BinaryCounts,
  binaryCounts,
  binaryResampler,
  bootstrapIntervals,
  type BootstrapOptions,
  brierScore,
  type CalibrationBin,
  calibrationBins,
  type ConfidenceInterval,
  confusionMatrix,
  eceBins,
  expectedCalibrationError,
  f1Of,
  multiclassBrierScore,
  precisionOf,
  recallOf,
  regressionMetrics,
  type RocPoint,
  rocCurve,
  specificityOf,
} from './metrics.ts';
import { groupPositions, mean } from './stats.ts';
import { parseCell } from './values.ts';

/** What the outputs mean: binary rows are [p(positive)], multiclass rows a probability per class, regression rows [value]. */
export interface EvaluationTarget {
  kind: 'binary' | 'multiclass' | 'regression';
  /** Class labels by index (binary: [negative, positive]); null for regression. */
  labels: string[] | null;
  /** Binary: a probability at or above it predicts the positive class. */
  threshold: number;
}

export interface ClassificationMetrics {
  kind: 'binary' | 'multiclass';
  n: number;
  accuracy: number | null;
  /** Binary: of the positive class; multiclass: macro average over classes (one-vs-rest). */
  precision: number | null;
  recall: number | null;
  specificity: number | null;
  f1: number | null;
  auroc: number | null;
  auprc: number | null;
  brier: number;
  ece: number;
  /** Binary only. */
  threshold: number | null;
  confusionMatrix: { labels: string[]; matrix: number[][] };
}

export interface RegressionMetricSet {
  kind: 'regression';
  n: number;
  mse: number;
  rmse: number;
  mae: number;
  r2: number | null;
}

export type MetricSet = ClassificationMetrics | RegressionMetricSet;

export type Intervals = Record<string, ConfidenceInterval | null>;

export interface Comparison {
  /** The headline metric compared (higher is better): AUROC (binary), accuracy (multiclass), R² (regression). */
  metric: string;
  model: number | null;
  baseline: number | null;
  difference: number | null;
  /** Paired bootstrap interval of model minus baseline. */
  differenceInterval: ConfidenceInterval | null;
  verdict: 'beats' | 'not-clearly-better' | 'does-not-beat';
  statement: string;
  /** The model against predicting the training prevalence (or mean) for everyone. */
  trivialStatement: string;
}

export interface SubgroupResult {
  variable: 'sex' | 'age';
  column: string;
  group: string;
  n: number;
  /** Rows with the positive class (binary), else null. */
  events: number | null;
  metrics: MetricSet;
  intervals: Intervals;
  notes: string[];
}

/** The test-split evaluation of a model beside its baseline and the trivial predictor. JSON-serializable. */
export interface Evaluation {
  n: number;
  headline: string[];
  model: { metrics: MetricSet; intervals: Intervals };
  baseline: { description: string; metrics: MetricSet; intervals: Intervals };
  trivial: { description: string; metrics: MetricSet };
  comparison: Comparison;
  subgroups: SubgroupResult[];
  curves: {
    roc: { model: RocPoint[]; baseline: RocPoint[] } | null;
    calibration: { model: CalibrationBin[]; baseline: CalibrationBin[] } | null;
    /** Regression: observed and predicted values of (up to 500, evenly spaced) test rows, for plots. */
    scatter?: { observed: number[]; model: number[]; baseline: number[] };
  };
  definitions: Record<string, string>;
}

/** A column whose values define subgroups, with its raw value on each test row. */
export interface SubgroupColumn {
  variable: 'sex' | 'age';
  column: string;
  values: RawValue[];
}

export interface EvaluationInput {
  target: EvaluationTarget;
  /** True class index or value of each test row. */
  actual: number[];
  model: number[][];
  baseline: number[][];
  trivial: number[][];
  baselineDescription: string;
  trivialDescription: string;
  subgroupColumns: SubgroupColumn[];
  bootstrap: BootstrapOptions;
}

const maxScatterPoints = 500;

/**
 * Evaluates test-split predictions: metrics, bootstrap intervals of the
 * headline metrics, the comparison with the baseline (paired bootstrap),
 * subgroups by sex and age, and curves for plotting.
 * @param input outputs of the model, the baseline and the trivial predictor on the same test rows
 */
export function evaluate(input: EvaluationInput): Evaluation {
  const { target, actual } = input;
  const headline = headlineNames(target.kind);
  const compared = comparedMetric(target.kind);
  const all = actual.map((_, i) => i);
  const intervals = bootstrapIntervals(
    actual.length,
    (() => {
      const [modelOf, baselineOf] = [resampledHeadline(target, actual, input.model), resampledHeadline(target, actual, input.baseline)];
      return (indices: number[]) => {
        const model = modelOf(indices);
        const baseline = baselineOf(indices);
        const difference = model[compared] !== null && baseline[compared] !== null ? model[compared]! - baseline[compared]! : null;
        return { ...prefixed('model', model), ...prefixed('baseline', baseline), difference };
      };
    })(),
    input.bootstrap,
  );
  const modelMetrics = computeMetrics(target, actual, input.model);
  const baselineMetrics = computeMetrics(target, actual, input.baseline);
  return {
    n: actual.length,
    headline,
    model: { metrics: modelMetrics, intervals: unprefixed('model', intervals) },
    baseline: { description: input.baselineDescription, metrics: baselineMetrics, intervals: unprefixed('baseline', intervals) },
    trivial: { description: input.trivialDescription, metrics: computeMetrics(target, actual, input.trivial) },
    comparison: compare(
      compared,
      metricValue(modelMetrics, compared),
      metricValue(baselineMetrics, compared),
      intervals.difference ?? null,
      metricValue(computeMetrics(target, actual, input.trivial), compared),
      input,
    ),
    subgroups: input.subgroupColumns.flatMap((column) => subgroupResults(column, input, all)),
    curves: curves(target, actual, input),
    definitions: definitions(target, input.bootstrap),
  };
}

/**
 * All metrics of one set of outputs.
 * @param target what the outputs mean
 * @param actual true class indices or values
 * @param outputs one output row per test row
 */
export function computeMetrics(target: EvaluationTarget, actual: readonly number[], outputs: readonly number[][]): MetricSet {
  if (target.kind === 'regression') return { kind: 'regression', n: actual.length, ...regressionMetrics(actual, outputs.map((row) => row[0]!)) };
  if (target.kind === 'binary') return binaryMetrics(target, actual, outputs.map((row) => row[0]!));
  return multiclassMetrics(target, actual, outputs);
}

function binaryMetrics(target: EvaluationTarget, labels: readonly number[], scores: number[]): ClassificationMetrics {
  const counts = binaryCounts(labels, scores, target.threshold);
  return {
    kind: 'binary',
    n: labels.length,
    ...countMetrics(counts),
    auroc: auroc(labels, scores),
    auprc: averagePrecision(labels, scores),
    brier: brierScore(labels, scores),
    ece: expectedCalibrationError(calibrationBins(labels, scores, eceBins)),
    threshold: target.threshold,
    confusionMatrix: { labels: target.labels!, matrix: [[counts.tn, counts.fp], [counts.fn, counts.tp]] },
  };
}

function countMetrics(counts: BinaryCounts) {
  return { accuracy: accuracyOf(counts), precision: precisionOf(counts), recall: recallOf(counts), specificity: specificityOf(counts), f1: f1Of(counts) };
}

function multiclassMetrics(target: EvaluationTarget, actual: readonly number[], outputs: readonly number[][]): ClassificationMetrics {
  const classes = target.labels!.length;
  const predicted = outputs.map(argmax);
  const matrix = confusionMatrix(actual, predicted, classes);
  const perClass = target.labels!.map((_, k) => {
    const labels = actual.map((a) => (a === k ? 1 : 0));
    const scores = outputs.map((row) => row[k]!);
    return { ...countMetrics(oneVsRestCounts(matrix, k)), auroc: auroc(labels, scores), auprc: averagePrecision(labels, scores) };
  });
  const macro = (name: keyof (typeof perClass)[number]) => macroAverage(perClass.map((metrics) => metrics[name]));
  const correct = predicted.map((p, i) => (p === actual[i] ? 1 : 0));
  return {
    kind: 'multiclass',
    n: actual.length,
    accuracy: actual.length === 0 ? null : mean(correct),
    precision: macro('precision'),
    recall: macro('recall'),
    specificity: macro('specificity'),
    f1: macro('f1'),
    auroc: macro('auroc'),
    auprc: macro('auprc'),
    brier: multiclassBrierScore(actual, outputs as number[][]),
    ece: topClassCalibrationError(correct, outputs),
    threshold: null,
    confusionMatrix: { labels: target.labels!, matrix },
  };
}

/** Several classes: the ECE of the top class's probability against whether it was right. */
function topClassCalibrationError(correct: readonly number[], outputs: readonly number[][]): number {
  return expectedCalibrationError(calibrationBins(correct, outputs.map((row) => Math.max(...row)), eceBins));
}

function oneVsRestCounts(matrix: number[][], k: number): BinaryCounts {
  const total = matrix.flat().reduce((sum, count) => sum + count, 0);
  const tp = matrix[k]![k]!;
  const fn = matrix[k]!.reduce((sum, count) => sum + count, 0) - tp;
  const fp = matrix.reduce((sum, row) => sum + row[k]!, 0) - tp;
  return { tp, fn, fp, tn: total - tp - fn - fp };
}

/** Mean over the classes where the metric is defined; null when it is defined for none. */
function macroAverage(values: (number | null)[]): number | null {
  const defined = values.filter((value): value is number => value !== null);
  return defined.length === 0 ? null : mean(defined);
}

function headlineNames(kind: EvaluationTarget['kind']): string[] {
  return kind === 'regression' ? ['rmse', 'r2', 'mae'] : ['accuracy', 'auroc', 'f1'];
}

function comparedMetric(kind: EvaluationTarget['kind']): string {
  return { binary: 'auroc', multiclass: 'accuracy', regression: 'r2' }[kind];
}

/**
 * The headline metrics of a bootstrap resample given as row indices (and for classifiers the ECE); binary
 * ones in linear time from draws per row (see binaryResampler), which large test splits need.
 */
function resampledHeadline(target: EvaluationTarget, actual: number[], outputs: number[][]): (indices: number[]) => Record<string, number | null> {
  if (target.kind !== 'binary') return (indices) => headlineMetrics(target, pick(actual, indices), pick(outputs, indices));
  const metricsOf = binaryResampler(actual, outputs.map((row) => row[0]!), target.threshold);
  return (indices) => {
    const draws = new Uint32Array(actual.length);
    for (const i of indices) draws[i]! += 1;
    return metricsOf(draws);
  };
}

/** The headline metrics of regression and multiclass outputs (and the latter's ECE), cheap enough to compute on every bootstrap resample. */
function headlineMetrics(target: EvaluationTarget, actual: number[], outputs: number[][]): Record<string, number | null> {
  if (target.kind === 'regression') {
    const { rmse, r2, mae } = regressionMetrics(actual, outputs.map((row) => row[0]!));
    return { rmse, r2, mae };
  }
  const predicted = outputs.map(argmax);
  const matrix = confusionMatrix(actual, predicted, outputs[0]!.length);
  const perClass = matrix.map((_, k) => ({
    f1: f1Of(oneVsRestCounts(matrix, k)),
    auroc: auroc(actual.map((a) => (a === k ? 1 : 0)), outputs.map((row) => row[k]!)),
  }));
  const correct = predicted.map((p, i) => (p === actual[i] ? 1 : 0));
  return {
    accuracy: mean(correct),
    auroc: macroAverage(perClass.map((metrics) => metrics.auroc)),
    f1: macroAverage(perClass.map((metrics) => metrics.f1)),
    ece: topClassCalibrationError(correct, outputs),
  };
}

function metricValue(metrics: MetricSet, name: string): number | null {
  return (metrics as unknown as Record<string, number | null>)[name] ?? null;
}

const pick = <T>(values: readonly T[], indices: number[]): T[] => indices.map((i) => values[i]!);
const prefixed = (prefix: string, values: Record<string, number | null>) =>
  Object.fromEntries(Object.entries(values).map(([name, value]) => [`${prefix}.${name}`, value]));
const unprefixed = (prefix: string, values: Intervals): Intervals =>
  Object.fromEntries(
    Object.entries(values)
      .filter(([name]) => name.startsWith(`${prefix}.`))
      .map(([name, value]) => [name.slice(prefix.length + 1), value]),
  );

const metricNames: Record<string, string> = { auroc: 'AUROC', accuracy: 'accuracy', r2: 'R²', f1: 'F1', rmse: 'RMSE', mae: 'MAE' };

function compare(
  metric: string,
  model: number | null,
  baseline: number | null,
  differenceInterval: ConfidenceInterval | null,
  trivial: number | null,
  input: EvaluationInput,
): Comparison {
  const name = metricNames[metric] ?? metric;
  const difference = model !== null && baseline !== null ? model - baseline : null;
  const level = `${Math.round(input.bootstrap.level * 100)}%`;
  const range = differenceInterval ? `${fixed(differenceInterval.lower)} to ${fixed(differenceInterval.upper)}` : 'not estimable';
  let verdict: Comparison['verdict'];
  let statement: string;
  if (difference === null || difference <= 0) {
    verdict = 'does-not-beat';
    statement = `The model does not beat its baseline (${input.baselineDescription}) on ${name}: ${fixed(model)} against ${fixed(baseline)}. Prefer the simpler baseline unless another reason favours the model.`;
  } else if (differenceInterval && differenceInterval.lower > 0) {
    verdict = 'beats';
    statement = `The model beats its baseline (${input.baselineDescription}) on ${name}: ${fixed(model)} against ${fixed(baseline)}, a difference of ${fixed(difference)} (${level} CI ${range}).`;
  } else {
    verdict = 'not-clearly-better';
    statement = `The model scores higher than its baseline (${input.baselineDescription}) on ${name}, ${fixed(model)} against ${fixed(baseline)}, but the difference of ${fixed(difference)} (${level} CI ${range}) is within the uncertainty of this test set: it does not clearly beat the baseline.`;
  }
  const trivialStatement =
    model !== null && trivial !== null && model > trivial
      ? `The model beats the trivial predictor (${input.trivialDescription}) on ${name}: ${fixed(model)} against ${fixed(trivial)}.`
      : `The model does NOT beat the trivial predictor (${input.trivialDescription}) on ${name}: ${fixed(model)} against ${fixed(trivial)}.`;
  return { metric, model, baseline, difference, differenceInterval, verdict, statement, trivialStatement };
}

function fixed(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(3);
}

/** Subgroup of a raw value: each sex level, or age bands <40, 40-59, >=60; "missing" when absent. */
export function subgroupOf(variable: SubgroupColumn['variable'], value: RawValue): string {
  const cell = parseCell(value);
  if (cell.kind === 'missing') return 'missing';
  if (variable === 'sex') return String(cell.value);
  if (cell.kind !== 'number') return 'missing';
  return cell.value < 40 ? '<40' : cell.value < 60 ? '40-59' : '≥60';
}

function subgroupResults(column: SubgroupColumn, input: EvaluationInput, all: number[]): SubgroupResult[] {
  const groups = groupPositions(all.map((i) => subgroupOf(column.variable, column.values[i])));
  const order = column.variable === 'age' ? ['<40', '40-59', '≥60', 'missing'] : [...groups.keys()].sort();
  return order
    .filter((group) => groups.has(group))
    .map((group) => {
      const rows = groups.get(group)!;
      const actual = pick(input.actual, rows);
      const outputs = pick(input.model, rows);
      const notes: string[] = [];
      if (rows.length < 30) notes.push(`only ${rows.length} test rows: figures are imprecise`);
      if (input.target.kind === 'binary' && new Set(actual).size < 2) notes.push('one class only: AUROC is undefined');
      const intervals = bootstrapIntervals(rows.length, resampledHeadline(input.target, actual, outputs), {
        ...input.bootstrap,
        ...(input.bootstrap.groups ? { groups: pick(input.bootstrap.groups, rows) } : {}),
      });
      return {
        variable: column.variable,
        column: column.column,
        group,
        n: rows.length,
        events: input.target.kind === 'binary' ? actual.filter((label) => label === 1).length : null,
        metrics: computeMetrics(input.target, actual, outputs),
        intervals,
        notes,
      };
    });
}

function curves(target: EvaluationTarget, actual: number[], input: EvaluationInput): Evaluation['curves'] {
  if (target.kind === 'regression') {
    const every = Math.max(1, Math.ceil(actual.length / maxScatterPoints));
    const rows = actual.map((_, i) => i).filter((i) => i % every === 0);
    return { roc: null, calibration: null, scatter: { observed: pick(actual, rows), model: rows.map((i) => input.model[i]![0]!), baseline: rows.map((i) => input.baseline[i]![0]!) } };
  }
  if (target.kind === 'binary') {
    const scores = (outputs: number[][]) => outputs.map((row) => row[0]!);
    return {
      roc: { model: rocCurve(actual, scores(input.model)), baseline: rocCurve(actual, scores(input.baseline)) },
      calibration: {
        model: calibrationBins(actual, scores(input.model), eceBins),
        baseline: calibrationBins(actual, scores(input.baseline), eceBins),
      },
    };
  }
  const topLabel = (outputs: number[][]) =>
    calibrationBins(
      outputs.map((row, i) => (argmax(row) === actual[i] ? 1 : 0)),
      outputs.map((row) => Math.max(...row)),
      eceBins,
    );
  return { roc: null, calibration: { model: topLabel(input.model), baseline: topLabel(input.baseline) } };
}

function definitions(target: EvaluationTarget, bootstrap: BootstrapOptions): Record<string, string> {
  const common = {
    split: 'all figures are on the held-out test split, which played no part in training, early stopping or preprocessing',
    intervals: `${Math.round(bootstrap.level * 100)}% percentile bootstrap intervals, ${bootstrap.resamples} resamples of the test ${bootstrap.groups ? 'patients (all rows of a patient drawn together)' : 'rows'} (seed ${bootstrap.seed}); the comparison with the baseline uses paired resamples`,
    subgroups: 'the same metrics on the test rows of each sex level and age band (<40, 40-59, ≥60 years), where such a column exists',
  };
  if (target.kind === 'regression') {
    return { ...common, r2: 'R² = 1 - sum of squared errors / sum of squares around the test mean', rmse: 'root mean squared error, in the target units', mae: 'mean absolute error, in the target units' };
  }
  const binary = target.kind === 'binary';
  return {
    ...common,
    threshold: binary ? `a probability of the positive class at or above ${target.threshold} predicts it` : 'the class with the highest probability is predicted (argmax)',
    averaging: binary ? 'precision, recall (sensitivity), specificity and F1 of the positive class' : 'precision, recall, specificity, F1, AUROC and AUPRC are macro averages over classes, each class against the rest',
    auroc: 'area under the ROC curve (Mann-Whitney, ties count one half)',
    auprc: 'area under the precision-recall curve as average precision (no interpolation)',
    brier: binary ? 'mean squared difference between the probability of the positive class and the outcome (0/1)' : 'mean over rows of the sum over classes of squared differences between probability and outcome (0/1)',
    ece: `expected calibration error: ${eceBins} equal-width bins of ${binary ? 'the probability of the positive class' : 'the top class probability (confidence)'}; sum over bins of (share of rows) x |observed rate - mean predicted probability|`,
  };
}
