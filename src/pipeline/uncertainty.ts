/*
 * Decisions and uncertainty fitted on the validation split: the binary
 * decision threshold by a stated rule, and split-conformal prediction sets
 * (classifiers) and intervals (regression) at a stated coverage, with the
 * coverage measured on the test split.
 */
import { badOption } from './errors.ts';

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
  /** Measured on the test split. */
  test: { coverage: number; meanSetSize: number | null; meanWidth: number | null } | null;
}

export const defaultCoverage = 0.9;

/**
 * Fits split-conformal prediction on validation outputs: the nonconformity
 * score is 1 - probability of the true class (classifiers) or |y - prediction|
 * (regression); the quantile is the ceil((n + 1) * coverage)-th smallest score.
 * @param outputs binary rows [p(positive)], multiclass rows of probabilities, regression rows [value]
 * @param actual class indices or values
 */
export function fitConformal(kind: 'binary' | 'multiclass' | 'regression', outputs: readonly number[][], actual: readonly number[], coverage: number): Conformal {
  if (!(coverage > 0 && coverage < 1)) throw badOption('coverage must lie between 0 and 1.');
  const scores = Float64Array.from(outputs, (row, i) => (kind === 'regression' ? Math.abs(actual[i]! - row[0]!) : 1 - classProbabilities(kind, row)[actual[i]!]!)).sort();
  const rank = Math.ceil((scores.length + 1) * coverage);
  const quantile = rank > scores.length ? Infinity : scores[rank - 1]!;
  return { kind: kind === 'regression' ? 'interval' : 'set', coverage, quantile: Number.isFinite(quantile) ? quantile : Number.MAX_VALUE, calibrationRows: scores.length, test: null };
}

/** Adds the coverage measured on the test split, and the mean set size or interval width. */
export function measureConformal(conformal: Conformal, kind: 'binary' | 'multiclass' | 'regression', outputs: readonly number[][], actual: readonly number[]): Conformal {
  let covered = 0;
  let size = 0;
  outputs.forEach((row, i) => {
    if (kind === 'regression') {
      covered += Math.abs(actual[i]! - row[0]!) <= conformal.quantile ? 1 : 0;
      size += 2 * conformal.quantile;
    } else {
      const set = predictionSetIndices(conformal, classProbabilities(kind, row));
      covered += set.includes(actual[i]!) ? 1 : 0;
      size += set.length;
    }
  });
  const n = Math.max(outputs.length, 1);
  return { ...conformal, test: { coverage: covered / n, meanSetSize: kind === 'regression' ? null : size / n, meanWidth: kind === 'regression' ? size / n : null } };
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

/** The set or interval in words, for the card. */
export function describeConformal(conformal: Conformal): string {
  const nominal = `${Math.round(conformal.coverage * 100)}%`;
  const fitted = `split-conformal, calibrated on the ${conformal.calibrationRows} validation rows`;
  const measured = conformal.test
    ? `measured coverage on the test split ${conformal.test.coverage.toFixed(3)}${conformal.test.meanSetSize !== null ? `, mean set size ${conformal.test.meanSetSize.toFixed(2)}` : `, mean width ${conformal.test.meanWidth!.toPrecision(4)}`}`
    : 'not measured';
  return conformal.kind === 'set'
    ? `Prediction sets at ${nominal} nominal coverage (${fitted}: every class with probability at least ${(1 - conformal.quantile).toPrecision(4)}; an empty set means no class reaches it, a case the model cannot place at this coverage); ${measured}.`
    : `Prediction intervals at ${nominal} nominal coverage (${fitted}: the prediction ± ${conformal.quantile.toPrecision(4)}); ${measured}.`;
}

function classProbabilities(kind: 'binary' | 'multiclass' | 'regression', row: readonly number[]): readonly number[] {
  return kind === 'binary' ? [1 - row[0]!, row[0]!] : row;
}
