/*
 * Checks of single columns against the target and of their content, run by
 * the data-quality step before anything trains: probable target leaks and
 * identifiers recognised by what they hold rather than by their name.
 */
import { auroc } from './metrics.ts';
import { ascending, mean, quantileSorted } from './stats.ts';

/** A single column's power to predict the target on its own, or the target's to determine the column. */
export interface LeakSuspect {
  column: string;
  /**
   * AUROC (binary; the better of the column and its reverse), accuracy by value (multiclass) or R² (regression);
   * or determinism: how nearly the column is a function of the target (see columnDeterminedByTarget).
   */
  metric: 'AUROC' | 'accuracy' | 'R²' | 'determinism';
  value: number;
}

/** Larger data sets are judged on an even sample of this many rows (a leak shows in any sample). */
const maxCheckedRows = 100_000;

/** At or above these, one column alone predicts the target almost perfectly: a probable leak. */
export const leakThresholds = { AUROC: 0.98, accuracy: 0.98, 'R²': 0.95, determinism: 0.9 } as const;

/** Columns with more values than this are amounts, judged by singleColumnStrength; fewer are flags and grades a target can determine. */
const maxDeterminedLevels = 20;

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

/**
 * How nearly a column of few values (a flag, a grade) is a function of the
 * target: a low-birth-weight flag computed from the birth weight in grams, a
 * grouping of diagnoses. The column is compared along the rows in target
 * order: rows that differ from the most frequent value among rows of the same
 * target value count twice, and each change of that value between one target
 * value and the next once. Determinism is 1 minus that count over the changes
 * expected in a random order (n - 1 times the chance two rows differ): 1 for
 * a step function of the target with one step, about 0 for an unrelated
 * column. The target predicts it, whatever it predicts of the target, so a
 * coarsened copy of a regression target, which no single-column fit flags,
 * is caught.
 * @param column per usable row: a number, a level, or null when missing
 * @returns null when the column has too many values, or too few rows to judge
 */
export function columnDeterminedByTarget(name: string, column: ArrayLike<number | string | null>, target: LeakTarget): LeakSuspect | null {
  const every = Math.max(1, Math.ceil(column.length / maxCheckedRows));
  const present: number[] = [];
  for (let i = 0; i < column.length; i += every) if (column[i] !== null && !(typeof column[i] === 'number' && Number.isNaN(column[i]))) present.push(i);
  const levelCounts = new Map<string, number>();
  for (const i of present) levelCounts.set(String(column[i]), (levelCounts.get(String(column[i])) ?? 0) + 1);
  if (levelCounts.size < 2 || levelCounts.size > maxDeterminedLevels) return null;
  let sameChance = 0;
  for (const count of levelCounts.values()) sameChance += (count / present.length) ** 2;
  const expectedChanges = (present.length - 1) * (1 - sameChance);
  if (expectedChanges < 10) return null;
  present.sort((a, b) => target.values[a]! - target.values[b]!);
  let misses = 0;
  let changes = 0;
  let previous: string | null = null;
  for (let start = 0; start < present.length; ) {
    let end = start;
    const counts = new Map<string, number>();
    while (end < present.length && target.values[present[end]!] === target.values[present[start]!]) {
      const level = String(column[present[end]!]);
      counts.set(level, (counts.get(level) ?? 0) + 1);
      end += 1;
    }
    const [usual, usualCount] = [...counts].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
    misses += end - start - usualCount;
    if (previous !== null && usual !== previous) changes += 1;
    previous = usual;
    start = end;
  }
  return { column: name, metric: 'determinism', value: Math.max(0, 1 - (2 * misses + changes) / expectedChanges) };
}

/** True when the strength reaches its metric's leak threshold. */
export function isProbableLeak(suspect: LeakSuspect): boolean {
  return suspect.value >= leakThresholds[suspect.metric];
}

/**
 * An identifier by content: texts that differ on every row; whole numbers
 * that differ on every row and either run down the file in even steps (1, 2,
 * 3...; a few gaps allowed) or, out of order, fill a dense range (1..n with
 * few gaps: a shuffled row number); or whole numbers of many values (over
 * half the rows) that run down the file in even steps, each repeated on
 * consecutive rows: a patient number on each of the patient's rows of a file
 * sorted by it. Values that merely never turn back, with uneven steps, are
 * a feature the file is sorted by (an age in days with ties and gaps), not
 * a numbering, and are kept.
 * @param values the present values of a column, in row order
 * @returns why it looks like an identifier, or null
 */
export function identifierByContent(values: readonly (number | string)[]): string | null {
  if (values.length < 20) return null;
  const distinct = new Set(values).size;
  const unique = distinct === values.length;
  if (unique && values.every((value) => typeof value === 'string')) return 'a different text on every row';
  if (distinct <= values.length / 2 || !values.every((value) => typeof value === 'number' && Number.isInteger(value))) return null;
  const numbers = values as number[];
  const { monotone, step } = stepsDownTheFile(numbers);
  if (!unique) return step !== null ? `a whole number of ${distinct} values for ${values.length} rows, in sequence down the file in steps of ${step} (a number repeated on one patient's rows)` : null;
  if (step !== null) return 'a whole number that differs on every row and runs in sequence';
  if (!monotone && Math.max(...numbers) - Math.min(...numbers) + 1 <= 1.5 * numbers.length) return 'a whole number that differs on every row and fills a range like a row number';
  return null;
}

/** Of the changes down a numbering, the share at least that must be its one step (the others are gaps: deleted records). */
const evenStepShare = 0.9;

/**
 * Whether numbers never turn back down the file and, if so, the one step
 * (in size) that nearly all their changes take, as a numbering's do.
 * @returns monotone, and the step, or null when they turn back or their steps are uneven
 */
function stepsDownTheFile(numbers: readonly number[]): { monotone: boolean; step: number | null } {
  let rising = true;
  let falling = true;
  const stepCounts = new Map<number, number>();
  let changes = 0;
  for (let k = 1; k < numbers.length; k++) {
    const change = numbers[k]! - numbers[k - 1]!;
    rising &&= change >= 0;
    falling &&= change <= 0;
    if (change === 0) continue;
    changes += 1;
    stepCounts.set(Math.abs(change), (stepCounts.get(Math.abs(change)) ?? 0) + 1);
  }
  const monotone = rising || falling;
  if (!monotone || changes === 0) return { monotone, step: null };
  const [step, count] = [...stepCounts].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
  return { monotone, step: count >= evenStepShare * changes ? step : null };
}

/** Names of measurements that cannot be 0 in a living patient (a 0 there is usually "not measured"). */
const physiologicalName =
  /glucose|bmi|body.?mass|blood.?pressure|^s?bp$|^dbp$|systolic|diastolic|heart.?rate|pulse|^hr$|weight|height|temperature|^temp$|cholesterol|creatinine|h(a)?emoglobin|albumin|sodium|potassium|skin.?thickness|insulin|platelet|spo2|saturation|resp(iratory)?.?rate|bilirubin|^bili$|protime|calcium/i;

/**
 * Zeros that probably stand for "not measured", in a column with no possible
 * range to judge them by: a column whose other values are all positive (at
 * least two of them) and that is named like a physiological measurement
 * (glucose, blood pressure, BMI...) or carries a unit, or whose zeros lie far
 * below the rest (under the lower Tukey fence of its positive values).
 * @param values the column's numbers (NaN where missing)
 * @param unit the unit a feature specification gives, if any
 * @returns how many zeros, and why they are suspect; null when none are
 */
export function suspectZeros(name: string, values: ArrayLike<number>, unit: string | null): { count: number; reason: string } | null {
  const positives: number[] = [];
  let zeros = 0;
  let varied = false;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (value < 0) return null;
    if (value === 0) zeros += 1;
    else if (value > 0) {
      varied ||= positives.length > 0 && value !== positives[0];
      positives.push(value);
    }
  }
  if (zeros === 0 || !varied) return null;
  if (physiologicalName.test(name)) return { count: zeros, reason: 'its name is that of a measurement that cannot be 0' };
  if (unit) return { count: zeros, reason: `it is a measurement in ${unit}` };
  const sorted = ascending(positives);
  const [q1, q3] = [quantileSorted(sorted, 0.25), quantileSorted(sorted, 0.75)];
  if (q1 - 1.5 * (q3 - q1) > 0) return { count: zeros, reason: `its other values are all positive and the zeros lie far below them (${sorted[0]} and up)` };
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
