/*
 * Evaluation metrics as pure functions of plain arrays. Conventions:
 * - labels of a binary problem are 1 (positive) and 0; scores are the
 *   predicted probability of the positive class;
 * - a confusion matrix has actual classes as rows, predicted as columns;
 * - a metric that is undefined on the data (a ratio with a zero denominator,
 *   AUROC with one class only) is null, never NaN, so that results stay JSON.
 */
import { createRandom } from './random.ts';
import { ascending, groupPositions, mean, quantileSorted } from './stats.ts';

export interface BinaryCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/**
 * Counts at a threshold: a score at or above it predicts positive.
 * @param labels 1 positive, 0 negative
 * @param scores probability of the positive class
 */
export function binaryCounts(labels: readonly number[], scores: readonly number[], threshold = 0.5): BinaryCounts {
  const counts = { tp: 0, fp: 0, tn: 0, fn: 0 };
  labels.forEach((label, i) => {
    const positive = scores[i]! >= threshold;
    if (label === 1) positive ? counts.tp++ : counts.fn++;
    else positive ? counts.fp++ : counts.tn++;
  });
  return counts;
}

const ratio = (numerator: number, denominator: number): number | null => (denominator === 0 ? null : numerator / denominator);

/** (TP + TN) / all. */
export const accuracyOf = ({ tp, fp, tn, fn }: BinaryCounts) => ratio(tp + tn, tp + fp + tn + fn);
/** Positive predictive value: TP / (TP + FP). */
export const precisionOf = ({ tp, fp }: BinaryCounts) => ratio(tp, tp + fp);
/** Sensitivity: TP / (TP + FN). */
export const recallOf = ({ tp, fn }: BinaryCounts) => ratio(tp, tp + fn);
/** TN / (TN + FP). */
export const specificityOf = ({ tn, fp }: BinaryCounts) => ratio(tn, tn + fp);
/** Harmonic mean of precision and recall: 2TP / (2TP + FP + FN). */
export const f1Of = ({ tp, fp, fn }: BinaryCounts) => ratio(2 * tp, 2 * tp + fp + fn);

/**
 * Area under the ROC curve: the probability that a random positive scores
 * above a random negative, ties counting one half (Mann-Whitney U with mid-ranks).
 * @returns null when either class is absent
 */
export function auroc(labels: readonly number[], scores: readonly number[]): number | null {
  const positives = countLabel(labels, 1);
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return null;
  // For each positive: negatives scoring below it, plus half of those tied with it. Both classes'
  // scores are sorted as typed arrays (native numeric sort) and walked once together.
  const positive = new Float64Array(positives);
  const negative = new Float64Array(negatives);
  let p = 0;
  let n = 0;
  labels.forEach((label, i) => {
    if (label === 1) positive[p++] = scores[i]!;
    else negative[n++] = scores[i]!;
  });
  positive.sort();
  negative.sort();
  let below = 0;
  let tied = 0;
  let wins = 0;
  for (let k = 0; k < positives; k++) {
    const score = positive[k]!;
    while (below < negatives && negative[below]! < score) below++;
    tied = Math.max(tied, below);
    while (tied < negatives && negative[tied]! === score) tied++;
    wins += below + (tied - below) / 2;
  }
  return wins / (positives * negatives);
}

function countLabel(labels: readonly number[], label: number): number {
  let count = 0;
  for (const value of labels) if (value === label) count++;
  return count;
}

export interface RocPoint {
  /** Scores at or above it are positive; null for the starting point (nothing positive). */
  threshold: number | null;
  fpr: number;
  tpr: number;
}

/** Operating points at each distinct score, highest first, as (false positive rate, true positive rate). */
function operatingPoints(labels: readonly number[], scores: readonly number[]): { threshold: number; tp: number; fp: number }[] {
  const order = scores.map((score, index) => ({ score, label: labels[index]! })).sort((a, b) => b.score - a.score);
  const points: { threshold: number; tp: number; fp: number }[] = [];
  let tp = 0;
  let fp = 0;
  order.forEach(({ score, label }, k) => {
    if (label === 1) tp++;
    else fp++;
    if (k === order.length - 1 || order[k + 1]!.score !== score) points.push({ threshold: score, tp, fp });
  });
  return points;
}

/**
 * The ROC curve, from (0, 0) to (1, 1), keeping only the points where it
 * changes direction (collinear points are dropped to keep results small).
 * @returns an empty list when either class is absent
 */
export function rocCurve(labels: readonly number[], scores: readonly number[]): RocPoint[] {
  const positives = labels.filter((label) => label === 1).length;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return [];
  const points: RocPoint[] = [
    { threshold: null, fpr: 0, tpr: 0 },
    ...operatingPoints(labels, scores).map(({ threshold, tp, fp }) => ({ threshold, fpr: fp / negatives, tpr: tp / positives })),
  ];
  const corners = points.filter((point, k) => {
    const before = points[k - 1];
    const after = points[k + 1];
    if (!before || !after) return true;
    return (point.fpr - before.fpr) * (after.tpr - point.tpr) !== (point.tpr - before.tpr) * (after.fpr - point.fpr);
  });
  return corners.length > maxRocPoints ? thinned(corners) : corners;
}

/** Beyond this many points (large test sets) a ROC curve keeps only points a plot can show apart. */
const maxRocPoints = 1000;

/** The first and last point, and every point at least 1/1000 (in FPR or TPR) from the last one kept. */
function thinned(points: RocPoint[]): RocPoint[] {
  const kept = [points[0]!];
  for (const point of points.slice(1, -1)) {
    const last = kept[kept.length - 1]!;
    if (point.fpr - last.fpr >= 1 / maxRocPoints || point.tpr - last.tpr >= 1 / maxRocPoints) kept.push(point);
  }
  kept.push(points[points.length - 1]!);
  return kept;
}

/**
 * Area under the precision-recall curve as average precision:
 * AP = sum over distinct thresholds of (R_k - R_{k-1}) * P_k (no interpolation, as scikit-learn).
 * @returns null when there is no positive
 */
export function averagePrecision(labels: readonly number[], scores: readonly number[]): number | null {
  const positives = labels.filter((label) => label === 1).length;
  if (positives === 0) return null;
  let previousRecall = 0;
  let area = 0;
  for (const { tp, fp } of operatingPoints(labels, scores)) {
    const recall = tp / positives;
    area += (recall - previousRecall) * (tp / (tp + fp));
    previousRecall = recall;
  }
  return area;
}

/**
 * Brier score of a binary problem: mean of (p - y)^2.
 * @param labels 1 positive, 0 negative
 * @param probabilities probability of the positive class
 */
export function brierScore(labels: readonly number[], probabilities: readonly number[]): number {
  return mean(labels.map((label, i) => (probabilities[i]! - label) ** 2));
}

/**
 * Multiclass Brier score: mean over rows of the sum over classes of (p_k - y_k)^2
 * (Brier's original definition; it is twice the binary score for two classes).
 * @param classes the true class index of each row
 * @param probabilities one probability per class for each row
 */
export function multiclassBrierScore(classes: readonly number[], probabilities: readonly number[][]): number {
  return mean(classes.map((actual, i) => probabilities[i]!.reduce((sum, p, k) => sum + (p - (k === actual ? 1 : 0)) ** 2, 0)));
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  /** Mean predicted probability in the bin (null when empty). */
  meanPredicted: number | null;
  /** Share of rows in the bin where the event happened (null when empty). */
  observed: number | null;
}

/** Reliability bins of the expected calibration error, everywhere in the pipeline. */
export const eceBins = 10;

/**
 * Reliability bins: `bins` equal-width bins over [0, 1] (the last one
 * includes 1) of the predicted probabilities, with the observed event rate.
 * @param outcomes 1 when the predicted event happened, else 0
 * @param probabilities the predicted probability of that event
 */
export function calibrationBins(outcomes: readonly number[], probabilities: readonly number[], bins = eceBins): CalibrationBin[] {
  const sums = Array.from({ length: bins }, () => ({ count: 0, predicted: 0, observed: 0 }));
  probabilities.forEach((p, i) => {
    const bin = sums[Math.min(bins - 1, Math.floor(p * bins))]!;
    bin.count++;
    bin.predicted += p;
    bin.observed += outcomes[i]!;
  });
  return sums.map(({ count, predicted, observed }, k) => ({
    lower: k / bins,
    upper: (k + 1) / bins,
    count,
    meanPredicted: count === 0 ? null : predicted / count,
    observed: count === 0 ? null : observed / count,
  }));
}

/**
 * Expected calibration error: sum over bins of (rows in bin / all rows) * |observed rate - mean predicted|.
 * @param bins from calibrationBins
 */
export function expectedCalibrationError(bins: readonly CalibrationBin[]): number {
  const total = bins.reduce((sum, bin) => sum + bin.count, 0);
  return bins.reduce((sum, bin) => (bin.count === 0 ? sum : sum + (bin.count / total) * Math.abs(bin.observed! - bin.meanPredicted!)), 0);
}

/**
 * The monotonic-sweep calibration error (ECE_sweep, Roelofs, Cain, Shlens and
 * Mozer 2022): rows sorted by predicted probability go into b equal-mass
 * bins, for b = 1, 2, ... as long as the bins' observed rates still rise with
 * the bins; the ECE (|observed rate - mean predicted|, weighted by rows) of the
 * largest such b. On a calibrated model's few rows the binned ECE's ten
 * equal-width bins each hold a handful of rows whose noise adds up to an error
 * of its own; the sweep stops splitting where the rows no longer show a
 * rising trend, and is less biased upwards (tested beside the binned ECE).
 * @param outcomes 1 when the predicted event happened, else 0
 * @param probabilities the predicted probability of that event
 */
export function eceSweep(outcomes: readonly number[], probabilities: readonly number[]): number {
  const n = probabilities.length;
  if (n === 0) return 0;
  const order = Uint32Array.from(probabilities.keys()).sort((a, b) => probabilities[a]! - probabilities[b]!);
  // Prefix sums over the sorted rows, so that a bin's sums cost two look-ups.
  const predicted = new Float64Array(n + 1);
  const observed = new Float64Array(n + 1);
  order.forEach((row, k) => {
    predicted[k + 1] = predicted[k]! + probabilities[row]!;
    observed[k + 1] = observed[k]! + outcomes[row]!;
  });
  const errorWith = (bins: number): number | null => {
    let error = 0;
    let previousRate = -Infinity;
    for (let bin = 0; bin < bins; bin++) {
      const [start, end] = [Math.floor((bin * n) / bins), Math.floor(((bin + 1) * n) / bins)];
      const rate = (observed[end]! - observed[start]!) / (end - start);
      if (rate < previousRate) return null;
      previousRate = rate;
      error += Math.abs(observed[end]! - observed[start]! - (predicted[end]! - predicted[start]!));
    }
    return error / n;
  };
  let best = errorWith(1)!;
  for (let bins = 2; bins <= n; bins++) {
    const error = errorWith(bins);
    if (error === null) break;
    best = error;
  }
  return best;
}

/**
 * Confusion matrix.
 * @param actual the true class index of each row
 * @param predicted the predicted class index of each row
 * @param classes how many classes
 * @returns matrix[actual][predicted] = count
 */
export function confusionMatrix(actual: readonly number[], predicted: readonly number[], classes: number): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  actual.forEach((a, i) => matrix[a]![predicted[i]!]!++);
  return matrix;
}

/** The index of the largest value (the first one on ties). */
export function argmax(values: readonly number[]): number {
  let best = 0;
  values.forEach((value, k) => {
    if (value > values[best]!) best = k;
  });
  return best;
}

export interface RegressionMetrics {
  mse: number;
  rmse: number;
  mae: number;
  /** 1 - SS_res / SS_tot, SS_tot around the mean of the actual values; null when they do not vary. */
  r2: number | null;
}

/**
 * Error metrics of numeric predictions.
 * @param actual the true values
 * @param predicted the predictions, in the same order
 */
export function regressionMetrics(actual: readonly number[], predicted: readonly number[]): RegressionMetrics {
  const residuals = actual.map((value, i) => value - predicted[i]!);
  const mse = mean(residuals.map((r) => r * r));
  const average = mean(actual);
  const totalSquares = actual.reduce((sum, value) => sum + (value - average) ** 2, 0);
  return {
    mse,
    rmse: Math.sqrt(mse),
    mae: mean(residuals.map(Math.abs)),
    r2: totalSquares === 0 ? null : 1 - (mse * actual.length) / totalSquares,
  };
}

export interface ConfidenceInterval {
  lower: number;
  upper: number;
  /** Resamples where the metric was defined (e.g. both classes present for AUROC). */
  resamples: number;
}

export interface BootstrapOptions {
  resamples: number;
  seed: number;
  /** Coverage, e.g. 0.95. */
  level: number;
  /** Per row, its patient (or other cluster): when given, whole clusters are resampled, as rows of one patient are not independent. */
  groups?: readonly string[];
}

/**
 * Binary headline metrics (accuracy at the threshold, AUROC, F1) and the
 * expected calibration error (10 bins) of bootstrap resamples in linear time:
 * the rows are sorted by score once, and a resample is given as how often it
 * drew each row, so no resample copies or sorts the rows. Equals binaryCounts,
 * auroc and expectedCalibrationError on the resampled rows (ties count half).
 * @returns the metrics of one resample, from its draws per row
 */
export function binaryResampler(labels: readonly number[], scores: readonly number[], threshold: number): (draws: Uint32Array) => Record<'accuracy' | 'auroc' | 'f1' | 'ece', number | null> {
  const order = Uint32Array.from(labels.keys()).sort((a, b) => scores[a]! - scores[b]!);
  const binOf = Uint8Array.from(scores, (p) => Math.min(eceBins - 1, Math.floor(p * eceBins)));
  return (draws) => {
    const counts = { tp: 0, fp: 0, tn: 0, fn: 0 };
    // Per reliability bin: drawn rows' predicted probabilities minus their outcomes.
    const gaps = new Float64Array(eceBins);
    let drawn = 0;
    let wins = 0;
    let negativesBelow = 0;
    for (let start = 0; start < order.length; ) {
      const score = scores[order[start]!]!;
      let positives = 0;
      let negatives = 0;
      let end = start;
      for (; end < order.length && scores[order[end]!] === score; end++) {
        const row = order[end]!;
        if (labels[row] === 1) positives += draws[row]!;
        else negatives += draws[row]!;
        gaps[binOf[row]!]! += draws[row]! * (score - labels[row]!);
        drawn += draws[row]!;
      }
      wins += positives * (negativesBelow + negatives / 2);
      negativesBelow += negatives;
      if (score >= threshold) {
        counts.tp += positives;
        counts.fp += negatives;
      } else {
        counts.fn += positives;
        counts.tn += negatives;
      }
      start = end;
    }
    const pairs = (counts.tp + counts.fn) * (counts.fp + counts.tn);
    const ece = drawn === 0 ? null : gaps.reduce((sum, gap) => sum + Math.abs(gap), 0) / drawn;
    return { accuracy: accuracyOf(counts), auroc: pairs === 0 ? null : wins / pairs, f1: f1Of(counts), ece };
  };
}

/**
 * Percentile bootstrap confidence intervals: rows are resampled with
 * replacement `resamples` times (seeded), the statistics computed on each
 * resample, and the (1 - level)/2 and (1 + level)/2 quantiles taken.
 * @param rows how many rows the statistics are computed on
 * @param statistics computes named metrics on a resample given as row indices (null = undefined on it)
 * @returns an interval per metric (null when no resample defined it)
 */
export function bootstrapIntervals(
  rows: number,
  statistics: (indices: number[]) => Record<string, number | null>,
  { resamples, seed, level, groups }: BootstrapOptions,
): Record<string, ConfidenceInterval | null> {
  const random = createRandom(seed);
  const samples = new Map<string, number[]>();
  const clusters = groups ? [...groupPositions(groups).values()] : null;
  for (let r = 0; r < resamples; r++) {
    const indices = clusters ? Array.from({ length: clusters.length }, () => clusters[random.int(clusters.length)]!).flat() : Array.from({ length: rows }, () => random.int(rows));
    for (const [name, value] of Object.entries(statistics(indices))) {
      if (!samples.has(name)) samples.set(name, []);
      if (value !== null && Number.isFinite(value)) samples.get(name)!.push(value);
    }
  }
  return Object.fromEntries(
    [...samples].map(([name, values]) => {
      if (values.length === 0) return [name, null];
      const sorted = ascending(values);
      return [name, { lower: quantileSorted(sorted, (1 - level) / 2), upper: quantileSorted(sorted, (1 + level) / 2), resamples: values.length }];
    }),
  );
}
