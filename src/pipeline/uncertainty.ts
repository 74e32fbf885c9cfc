/*
 * Decisions and uncertainty fitted on held-out rows: the binary decision
 * threshold by a stated rule on the validation split, and conformal
 * prediction sets (classifiers) and intervals (regression) at a stated
 * coverage, fitted on the validation split or, when it is small, on
 * cross-fitted out-of-fold outputs, with the coverage measured on the test split.
 */
import { badOption } from './errors.ts';
import { bootstrapIntervals, type BootstrapOptions, type ConfidenceInterval } from './metrics.ts';
import { groupPositions, mean } from './stats.ts';

/** How the binary decision threshold is chosen: a fixed probability, Youden's J, or a minimum sensitivity. */
export type ThresholdRule = number | 'youden' | { sensitivity: number };

/** The threshold chosen, and the rule in words for the card. */
export interface ChosenThreshold {
  threshold: number;
  rule: string;
}

/**
 * Parses `youden`, `sensitivity=0.9` or a probability such as `0.5`.
 * @throws PipelineError BAD_OPTION for anything else
 */
export function parseThresholdRule(text: string): ThresholdRule {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'youden') return 'youden';
  const sensitivity = /^sensitivity=(0?\.\d+|1(\.0*)?)$/.exec(trimmed);
  if (sensitivity) return checkedRule({ sensitivity: Number(sensitivity[1]) });
  if (/^(0?\.\d+)$/.test(trimmed)) return checkedRule(Number(trimmed));
  throw badOption(`A threshold is youden, sensitivity=S (0 < S <= 1) or a probability between 0 and 1 (got "${text}").`);
}

export function checkedRule(rule: ThresholdRule): ThresholdRule {
  if (typeof rule === 'number' && !(rule > 0 && rule < 1)) throw badOption('threshold must lie between 0 and 1.');
  if (typeof rule === 'object' && !(rule.sensitivity > 0 && rule.sensitivity <= 1)) throw badOption('The sensitivity of a threshold rule must lie above 0 and at most 1.');
  return rule;
}

/**
 * Chooses the threshold on validation outputs: Youden's J (the probability
 * maximizing sensitivity + specificity - 1), or the highest probability that
 * still reaches the sensitivity asked for; a fixed number is taken as given.
 * @param labels 1 for the positive class, else 0
 * @param scores probabilities of the positive class
 */
export function chooseThreshold(rule: ThresholdRule, labels: readonly number[], scores: readonly number[]): ChosenThreshold {
  if (typeof rule === 'number') return { threshold: rule, rule: `fixed at ${rule}` };
  const order = scores.map((score, i) => ({ score, label: labels[i]! })).sort((a, b) => b.score - a.score);
  const positives = labels.filter((label) => label === 1).length;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return { threshold: 0.5, rule: 'fixed at 0.5 (the validation split holds one class only, so no rule could choose)' };
  let tp = 0;
  let fp = 0;
  let best = { threshold: 0.5, j: -Infinity, sensitivity: 0, specificity: 1 };
  for (let k = 0; k < order.length; k++) {
    if (order[k]!.label === 1) tp++;
    else fp++;
    if (k + 1 < order.length && order[k + 1]!.score === order[k]!.score) continue;
    const sensitivity = tp / positives;
    const specificity = 1 - fp / negatives;
    const threshold = order[k]!.score;
    if (rule === 'youden') {
      if (sensitivity + specificity - 1 > best.j) best = { threshold, j: sensitivity + specificity - 1, sensitivity, specificity };
    } else if (sensitivity >= rule.sensitivity) {
      best = { threshold, j: 0, sensitivity, specificity };
      break;
    }
  }
  const measured = `sensitivity ${best.sensitivity.toFixed(3)}, specificity ${best.specificity.toFixed(3)} on the validation split`;
  const name = rule === 'youden' ? "Youden's J (sensitivity + specificity - 1) maximized" : `the highest threshold with sensitivity at least ${rule.sensitivity}`;
  return { threshold: best.threshold, rule: `${name} on the validation split: ${best.threshold.toPrecision(4)} (${measured})` };
}

/** Split-conformal calibration: the quantile of validation nonconformity scores that gives the coverage asked for. */
export interface Conformal {
  kind: 'set' | 'interval';
  /** Nominal coverage, e.g. 0.9. */
  coverage: number;
  /** Classes whose 1 - probability is at most this join the set; intervals are the prediction ± this. */
  quantile: number;
  calibrationRows: number;
  /** Where the scores came from: absent, the validation split under the stored network; out-of-fold, every training and validation row under networks cross-fitted without it. */
  source?: 'out-of-fold';
  /** Measured on the test split. */
  test: ConformalTest | null;
}

/** The coverage on the test split, with its bootstrap interval and, for grouped rows, the mean over groups of each group's share covered. */
export interface ConformalTest {
  coverage: number;
  meanSetSize: number | null;
  meanWidth: number | null;
  /** Absent in versions measured before intervals. */
  interval?: ConfidenceInterval | null;
  groupCoverage?: number | null;
}

/** How far the measured coverage may lie from the nominal level (issue 15's target). */
export const coverageTolerance = 0.03;

export const defaultCoverage = 0.9;

/**
 * Validation splits with fewer rows than this are pooled with the training
 * rows by cross-fitting for the conformal quantile: on a few dozen rows the
 * quantile follows their noise. Larger ones (large files) are enough alone,
 * and cross-fitting would multiply their training time.
 */
export const crossFitBelowRows = 1000;

/** Folds of the cross-fitting: each fold's network learns from the other four fifths, about as many rows as the stored network. */
export const crossFitFolds = 5;

/**
 * Fits conformal prediction on held-out outputs: validation outputs (split
 * conformal; with a recalibration map, each row's output under the map
 * cross-fitted without it, so that no row scores under a map fitted on
 * itself), or out-of-fold outputs of every training and validation row
 * (cross-conformal, source out-of-fold; see calibrationRows): the nonconformity
 * score is 1 - probability of the true class (classifiers) or |y - prediction|
 * (regression); the quantile is the ceil((n + 1) * coverage)-th smallest score.
 * Rows of one patient (a sequence model's visits) count one by one: the test
 * coverage is per row too, and weighing each patient once instead covered
 * pbc-mortality's held-out visits at 0.937 on average against 0.890 (5-fold
 * cross-validation, BENCHMARKS.md), since long histories are the easy cases.
 * @param outputs binary rows [p(positive)], multiclass rows of probabilities, regression rows [value]
 * @param actual class indices or values
 */
export function fitConformal(
  kind: 'binary' | 'multiclass' | 'regression',
  outputs: readonly number[][],
  actual: readonly number[],
  coverage: number,
  source: 'validation' | 'out-of-fold' = 'validation',
): Conformal {
  if (!(coverage > 0 && coverage < 1)) throw badOption('coverage must lie between 0 and 1.');
  const scores = Float64Array.from(outputs, (row, i) => (kind === 'regression' ? Math.abs(actual[i]! - row[0]!) : 1 - classProbabilities(kind, row)[actual[i]!]!)).sort();
  const rank = Math.ceil((scores.length + 1) * coverage);
  const quantile = rank > scores.length ? Infinity : scores[rank - 1]!;
  return {
    kind: kind === 'regression' ? 'interval' : 'set',
    coverage,
    quantile: Number.isFinite(quantile) ? quantile : Number.MAX_VALUE,
    calibrationRows: scores.length,
    ...(source === 'out-of-fold' ? { source } : {}),
    test: null,
  };
}

/**
 * Adds the coverage measured on the test split, the mean set size or
 * interval width, and with bootstrap options the coverage's interval (whole
 * groups resampled when given) and the mean over groups of each group's
 * share covered.
 */
export function measureConformal(
  conformal: Conformal,
  kind: 'binary' | 'multiclass' | 'regression',
  outputs: readonly number[][],
  actual: readonly number[],
  bootstrap?: BootstrapOptions,
): Conformal {
  let size = 0;
  const covered = outputs.map((row, i) => {
    if (kind === 'regression') {
      size += 2 * conformal.quantile;
      return Math.abs(actual[i]! - row[0]!) <= conformal.quantile ? 1 : 0;
    }
    const set = predictionSetIndices(conformal, classProbabilities(kind, row));
    size += set.length;
    return set.includes(actual[i]!) ? 1 : 0;
  });
  const n = Math.max(outputs.length, 1);
  const share = (indices: readonly number[]) => indices.reduce((sum, i) => sum + covered[i]!, 0) / Math.max(indices.length, 1);
  const measured: ConformalTest = { coverage: share(covered.map((_, i) => i)), meanSetSize: kind === 'regression' ? null : size / n, meanWidth: kind === 'regression' ? size / n : null };
  if (bootstrap) {
    measured.interval = bootstrapIntervals(covered.length, (indices) => ({ coverage: share(indices) }), bootstrap).coverage ?? null;
    measured.groupCoverage = bootstrap.groups ? mean([...groupPositions(bootstrap.groups).values()].map(share)) : null;
  }
  return { ...conformal, test: measured };
}


/**
 * The class indices in the prediction set: those whose probability is at
 * least 1 - quantile (least ambiguous set-valued classifier, Sadinle et al.
 * 2019). The set can be empty: no class reaches the bar, which marks a case
 * the model cannot place at this coverage. Always adding the most probable
 * class would make the coverage at least the model's accuracy, far above the
 * nominal level for an accurate model.
 */
export function predictionSetIndices(conformal: Pick<Conformal, 'quantile'>, probabilities: readonly number[]): number[] {
  return probabilities.flatMap((p, k) => (1 - p <= conformal.quantile ? [k] : []));
}

/**
 * The set or interval in words, for the card, with whether the measured
 * coverage lies within 0.03 of the nominal level.
 * @param testRows the test rows the coverage was measured on: when the version stored no bootstrap interval, a Wilson interval is given from them
 */
export function describeConformal(conformal: Conformal, testRows?: number): string {
  const nominal = `${Math.round(conformal.coverage * 100)}%`;
  const fitted =
    conformal.source === 'out-of-fold'
      ? `cross-conformal, calibrated on the out-of-fold scores of the ${conformal.calibrationRows} training and validation rows, each under a network cross-fitted without it`
      : `split-conformal, calibrated on the ${conformal.calibrationRows} validation rows`;
  const test = conformal.test && !conformal.test.interval && testRows ? { ...conformal.test, interval: wilsonInterval(conformal.test.coverage, testRows) } : conformal.test;
  const [kind, how] = conformal.test?.interval
    ? ['95% bootstrap CI', `, ${conformal.test.groupCoverage != null ? 'patients' : 'rows'} resampled`]
    : ['95% Wilson interval', ', rows taken as independent'];
  const measured = test
    ? `measured coverage on the test split ${test.coverage.toFixed(3)}${test.interval ? ` (${kind} ${test.interval.lower.toFixed(3)} to ${test.interval.upper.toFixed(3)}${how})` : ''}${test.groupCoverage != null ? `, ${test.groupCoverage.toFixed(3)} as the mean of each test patient's share` : ''}${test.meanSetSize !== null ? `, mean set size ${test.meanSetSize.toFixed(2)}` : `, mean width ${test.meanWidth!.toPrecision(4)}`}; ${coverageVerdict(conformal.coverage, test)}`
    : 'not measured';
  return conformal.kind === 'set'
    ? `Prediction sets at ${nominal} nominal coverage (${fitted}: every class with probability at least ${(1 - conformal.quantile).toPrecision(4)}; an empty set means no class reaches it, a case the model cannot place at this coverage); ${measured}.`
    : `Prediction intervals at ${nominal} nominal coverage (${fitted}: the prediction ± ${conformal.quantile.toPrecision(4)}); ${measured}.`;
}

/** The Wilson score interval (95%) of a proportion measured on n independent rows. */
function wilsonInterval(proportion: number, n: number): ConfidenceInterval {
  const z = 1.959964;
  const centre = (proportion + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((proportion * (1 - proportion)) / n + (z * z) / (4 * n * n));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half), resamples: 0 };
}

/** Whether the coverage lies within the tolerance of the nominal level, said plainly with what the interval allows. */
function coverageVerdict(nominal: number, test: ConformalTest): string {
  const target = `the target, within ${coverageTolerance} of ${nominal}`;
  const met = Math.abs(test.coverage - nominal) <= coverageTolerance;
  if (!test.interval) return met ? `${target}, is met` : `${target}, is not met`;
  const { lower, upper } = test.interval;
  const intervalInside = lower >= nominal - coverageTolerance && upper <= nominal + coverageTolerance;
  if (met) return intervalInside ? `${target}, is met` : `${target}, is met by the estimate, though its interval reaches beyond`;
  const reachable = upper >= nominal - coverageTolerance && lower <= nominal + coverageTolerance;
  return reachable ? `${target}, is not met by the estimate, though its interval reaches it` : `${target}, is not met`;
}

function classProbabilities(kind: 'binary' | 'multiclass' | 'regression', row: readonly number[]): readonly number[] {
  return kind === 'binary' ? [1 - row[0]!, row[0]!] : row;
}
