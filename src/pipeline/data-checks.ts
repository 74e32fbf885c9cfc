/*
 * Checks of single columns against the target and of their content, run by
 * the data-quality step before anything trains: probable target leaks and
 * identifiers recognised by what they hold rather than by their name.
 */
import { auroc } from './metrics.ts';
import { mean } from './stats.ts';

/** A single column's power to predict the target on its own. */
export interface LeakSuspect {
  column: string;
  /** AUROC (binary; the better of the column and its reverse), accuracy by value (multiclass) or R² (regression). */
  metric: 'AUROC' | 'accuracy' | 'R²';
  value: number;
}

/** Larger data sets are judged on an even sample of this many rows (a leak shows in any sample). */
const maxCheckedRows = 100_000;

/** At or above these, one column alone predicts the target almost perfectly: a probable leak. */
export const leakThresholds = { AUROC: 0.98, accuracy: 0.98, 'R²': 0.95 } as const;

/** What single-column strength is measured against. */
export interface LeakTarget {
  kind: 'binary' | 'multiclass' | 'regression';
  /** Class index (binary: 1 = positive) or value, per usable row. */
  values: readonly number[];
}

/**
 * How well one column alone predicts the target, in-sample: for binary
 * targets the AUROC of its values (numbers) or of its levels' positive rates
 * (categories); for multiclass targets the accuracy of predicting each value's
 * (or value bin's) most frequent class; for regression the larger of the
 * squared correlation and the share of variance explained by value bins,
 * which also catches non-linear functions. Above 100,000 rows, every k-th row.
 * @param column per usable row: a number, a level, or null when missing
 * @returns null when too few rows have a value to judge
 */
export function singleColumnStrength(name: string, column: ArrayLike<number | string | null>, target: LeakTarget): LeakSuspect | null {
  const every = Math.max(1, Math.ceil(column.length / maxCheckedRows));
  const present: number[] = [];
  for (let i = 0; i < column.length; i += every) if (column[i] !== null && !(typeof column[i] === 'number' && Number.isNaN(column[i]))) present.push(i);
  if (present.length < 20) return null;
  const numeric = present.every((i) => typeof column[i] === 'number');
  const groups = numeric ? quantileBins(present.map((i) => column[i] as number), binCount(present.length)) : present.map((i) => String(column[i]));
  const y = present.map((i) => target.values[i]!);
  if (target.kind === 'binary') {
    const scores = numeric ? present.map((i) => column[i] as number) : groupMeans(groups, y);
    const area = auroc(y, scores);
    return area === null ? null : { column: name, metric: 'AUROC', value: Math.max(area, 1 - area) };
  }
  if (target.kind === 'multiclass') return { column: name, metric: 'accuracy', value: majorityAccuracy(groups, y) };
  const binned = explainedShare(y, groupMeans(groups, y));
  return { column: name, metric: 'R²', value: numeric ? Math.max(binned, correlation(present.map((i) => column[i] as number), y) ** 2) : binned };
}

/** True when the strength reaches its metric's leak threshold. */
export function isProbableLeak(suspect: LeakSuspect): boolean {
  return suspect.value >= leakThresholds[suspect.metric];
}

/**
 * An identifier by content: whole numbers that differ on every row and either
 * run in one direction down the file or fill a dense range (1..n with few
 * gaps), or texts that differ on every row.
 * @param values the present values of a column, in row order
 * @returns why it looks like an identifier, or null
 */
export function identifierByContent(values: readonly (number | string)[]): string | null {
  if (values.length < 20 || new Set(values).size !== values.length) return null;
  if (values.every((value) => typeof value === 'string')) return 'a different text on every row';
  if (!values.every((value) => typeof value === 'number' && Number.isInteger(value))) return null;
  const numbers = values as number[];
  let rising = true;
  let falling = true;
  let low = numbers[0]!;
  let high = numbers[0]!;
  for (let k = 1; k < numbers.length; k++) {
    rising &&= numbers[k]! > numbers[k - 1]!;
    falling &&= numbers[k]! < numbers[k - 1]!;
    low = Math.min(low, numbers[k]!);
    high = Math.max(high, numbers[k]!);
  }
  if (rising || falling) return 'a whole number that differs on every row and runs in sequence';
  if (high - low + 1 <= 1.5 * numbers.length) return 'a whole number that differs on every row and fills a range like a row number';
  return null;
}

/** Enough bins to follow a function, few enough that noise does not look like one (about 10 rows a bin). */
function binCount(rows: number): number {
  return Math.max(2, Math.min(20, Math.floor(rows / 10)));
}

/** Each value's equal-count bin (by rank), as a label. */
function quantileBins(values: number[], bins: number): string[] {
  const order = values.map((_, k) => k).sort((a, b) => values[a]! - values[b]!);
  const labels = new Array<string>(values.length);
  order.forEach((k, rank) => (labels[k] = String(Math.floor((rank * bins) / values.length))));
  return labels;
}

/** Per row, the mean target of its group. */
function groupMeans(groups: readonly string[], y: readonly number[]): number[] {
  const sums = new Map<string, { sum: number; count: number }>();
  groups.forEach((group, k) => {
    const entry = sums.get(group) ?? { sum: 0, count: 0 };
    entry.sum += y[k]!;
    entry.count += 1;
    sums.set(group, entry);
  });
  return groups.map((group) => sums.get(group)!.sum / sums.get(group)!.count);
}

/** The share of rows whose class is the most frequent class of their group. */
function majorityAccuracy(groups: readonly string[], y: readonly number[]): number {
  const counts = new Map<string, Map<number, number>>();
  groups.forEach((group, k) => {
    const classes = counts.get(group) ?? new Map<number, number>();
    classes.set(y[k]!, (classes.get(y[k]!) ?? 0) + 1);
    counts.set(group, classes);
  });
  let correct = 0;
  for (const classes of counts.values()) correct += Math.max(...classes.values());
  return correct / y.length;
}

/** 1 - residual sum of squares / total sum of squares. */
function explainedShare(y: readonly number[], fitted: readonly number[]): number {
  const average = mean(y);
  let residual = 0;
  let total = 0;
  y.forEach((value, k) => {
    residual += (value - fitted[k]!) ** 2;
    total += (value - average) ** 2;
  });
  return total === 0 ? 0 : 1 - residual / total;
}

function correlation(x: readonly number[], y: readonly number[]): number {
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  x.forEach((value, k) => {
    sxy += (value - mx) * (y[k]! - my);
    sxx += (value - mx) ** 2;
    syy += (y[k]! - my) ** 2;
  });
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}
