import { badOption } from './errors.ts';
import type { Matrix } from './matrix.ts';
import type { CleanValue, FeatureValues, PreparedData, RangeQuantiles } from './quality.ts';
import { createRandom, shuffled } from './random.ts';
import { ascending, frequencies, groupPositions, mean, quantileSorted, standardDeviation } from './stats.ts';

export interface SplitFractions {
  /** Share of rows held out to stop training early (and choose nothing else). */
  validation: number;
  /** Share of rows held out to evaluate the final model, never seen in training. */
  test: number;
}

export const defaultSplit: SplitFractions = { validation: 0.15, test: 0.15 };

/** Positions (into the prepared rows) of each split. */
export interface DataSplit {
  train: number[];
  validation: number[];
  test: number[];
}

/** Statistics of one numeric feature, fitted on the training split. */
export interface NumericTransform {
  kind: 'numeric';
  name: string;
  /** Fills a missing value. */
  median: number;
  mean: number;
  /** 1 when the training values do not vary, so that standardizing never divides by zero. */
  std: number;
  /** The range seen in training. */
  min: number;
  max: number;
  /**
   * The training distribution in up to ten equal-count bins: inner edges
   * (a value v falls in the first bin whose edge is >= v) and each bin's share.
   * The reference for input drift (population stability index) in service.
   */
  bins: { edges: number[]; shares: number[] };
}

/** Levels of one text feature seen in the training split, one-hot encoded in this order. */
export interface CategoricalTransform {
  kind: 'categorical';
  name: string;
  levels: string[];
  /** Share of training rows at each level (the explanations' baseline). */
  frequencies: number[];
  /** Fills a missing value. */
  mode: string;
}

/** Everything needed to turn raw values into model inputs exactly as in training. JSON-serializable. */
export type PreprocessingState =
  | { kind: 'tabular'; features: (NumericTransform | CategoricalTransform)[]; columns: string[] }
  | { kind: 'image'; width: number; height: number; pixelColumns: string[]; scale: number; min: number; max: number; columns: string[] };

/**
 * Splits rows into training, validation and test sets, stratified, with a seeded shuffle.
 * @param strata one stratum per row (a class index, or a quantile bin of the target)
 * @param fractions validation and test shares; the rest trains
 * @param seed the shuffle's seed; equal seeds give equal splits
 * @returns positions of the rows in each split, ascending
 * @throws PipelineError BAD_OPTION for shares that leave too little to train
 */
export function stratifiedSplit(strata: readonly number[], fractions: SplitFractions, seed: number): DataSplit {
  checkFractions(fractions);
  const random = createRandom(seed);
  const split: DataSplit = { train: [], validation: [], test: [] };
  const groups = groupPositions(strata);
  for (const stratum of [...groups.keys()].sort((a, b) => a - b)) {
    const members = shuffled(groups.get(stratum)!, random);
    const testCount = Math.round(members.length * fractions.test);
    const validationCount = Math.round(members.length * fractions.validation);
    members.forEach((position, k) => (k < testCount ? split.test : k < testCount + validationCount ? split.validation : split.train).push(position));
  }
  for (const positions of Object.values(split)) positions.sort((a: number, b: number) => a - b);
  return split;
}

/**
 * Splits rows by group (a patient's rows all land in one split), stratified by
 * each group's first row, with a seeded shuffle of the groups (see allocateGroups).
 * @param groups one key per row (e.g. the patient id)
 * @param strata one stratum per row
 */
export function groupedSplit(groups: readonly string[], strata: readonly number[], fractions: SplitFractions, seed: number): DataSplit {
  checkFractions(fractions);
  const [test, validation, train] = allocateGroups(groups, strata, [fractions.test, fractions.validation], seed);
  return { train: train!, validation: validation!, test: test! };
}

/**
 * Deals whole groups into buckets: per stratum, groups in a seeded order fill
 * the first bucket until it holds its share of the stratum's rows, then the
 * next; the last bucket takes the rest.
 * @param shares the shares of all buckets but the last
 * @returns the rows of each bucket, ascending
 */
export function allocateGroups(groups: readonly string[], strata: readonly number[], shares: readonly number[], seed: number): number[][] {
  const random = createRandom(seed);
  const buckets = Array.from({ length: shares.length + 1 }, () => [] as number[]);
  const bounds = shares.map((_, k) => shares.slice(0, k + 1).reduce((sum, share) => sum + share, 0));
  for (const members of groupsByStratum(groups, strata).values()) {
    const total = members.reduce((sum, rows) => sum + rows.length, 0);
    let taken = 0;
    for (const rows of shuffled(members, random)) {
      const bucket = bounds.findIndex((bound) => taken < total * bound);
      for (const row of rows) buckets[bucket === -1 ? shares.length : bucket]!.push(row);
      taken += rows.length;
    }
  }
  for (const bucket of buckets) bucket.sort((a, b) => a - b);
  return buckets;
}

/**
 * Assigns rows to k folds by group, stratified: each stratum's groups, in a
 * seeded order, go round the folds, so a group's rows share one fold.
 * @returns the fold (0..k-1) of each row
 */
export function assignFolds(groups: readonly string[], strata: readonly number[], folds: number, seed: number): number[] {
  const random = createRandom(seed);
  const fold = new Array<number>(groups.length).fill(0);
  let next = 0;
  for (const members of groupsByStratum(groups, strata).values()) {
    for (const rows of shuffled(members, random)) {
      for (const row of rows) fold[row] = next;
      next = (next + 1) % folds;
    }
  }
  return fold;
}

/** The rows of each group, groups collected per stratum (a group's stratum: its first row's), strata in ascending order. */
function groupsByStratum(groups: readonly string[], strata: readonly number[]): Map<number, number[][]> {
  const rowsOf = groupPositions(groups);
  const byStratum = new Map<number, number[][]>();
  for (const rows of rowsOf.values()) {
    const stratum = strata[rows[0]!]!;
    const members = byStratum.get(stratum);
    if (members) members.push(rows);
    else byStratum.set(stratum, [rows]);
  }
  return new Map([...byStratum].sort(([a], [b]) => a - b));
}

function checkFractions({ validation, test }: SplitFractions): void {
  const valid = (share: number) => Number.isFinite(share) && share > 0 && share < 0.5;
  if (!valid(validation) || !valid(test) || validation + test > 0.6) {
    throw badOption(`Split shares must each be above 0 and below 0.5, and together at most 0.6 (got validation ${validation}, test ${test}).`);
  }
}

/**
 * The strata to split by: the class for classification, else one of `bins` quantile bins of the target.
 * @param prepared the usable rows
 */
export function splitStrata(prepared: PreparedData, bins = 5): number[] {
  if (prepared.labels) return prepared.targets;
  const order = prepared.targets.map((value, position) => ({ value, position })).sort((a, b) => a.value - b.value);
  const strata = new Array<number>(order.length);
  order.forEach(({ position }, rank) => (strata[position] = Math.floor((rank * bins) / order.length)));
  return strata;
}

/**
 * Fits the preprocessing on the training rows only, so that nothing about the
 * validation or test rows leaks into the model.
 * @param prepared the usable rows and the feature plan
 * @param train positions of the training rows
 * @param pixelScale images: the divisor of pixel values (default: the largest training pixel value)
 */
export function fitPreprocessing(prepared: PreparedData, train: readonly number[], pixelScale?: number): PreprocessingState {
  if (prepared.image) return fitImage(prepared, prepared.image, train, pixelScale);
  const features = prepared.features.map((feature, index) => {
    const values = prepared.values[index]!;
    return values instanceof Float64Array ? fitNumeric(feature.name, pick(values, train), prepared.rangeQuantiles) : fitCategorical(feature.name, train.map((position) => values[position]!));
  });
  const columns = features.flatMap((feature) =>
    feature.kind === 'numeric' ? [feature.name] : feature.levels.map((level) => `${feature.name}=${level}`),
  );
  return { kind: 'tabular', features, columns };
}

function pick(values: Float64Array, positions: readonly number[]): Float64Array {
  const picked = new Float64Array(positions.length);
  positions.forEach((position, k) => (picked[k] = values[position]!));
  return picked;
}

/** values: NaN where missing. */
function fitNumeric(name: string, values: Float64Array, [lowQuantile, highQuantile]: RangeQuantiles): NumericTransform {
  const sorted = ascending(values.filter((value) => !Number.isNaN(value)));
  // A feature missing from every training row carries nothing; it encodes as 0 (its mean).
  const middle = sorted.length > 0 ? quantileSorted(sorted, 0.5) : 0;
  const filled = values.map((value) => (Number.isNaN(value) ? middle : value));
  const spread = standardDeviation(filled);
  return {
    kind: 'numeric',
    name,
    median: middle,
    mean: mean(filled),
    std: spread > 0 ? spread : 1,
    min: sorted.length > 0 ? quantileSorted(sorted, lowQuantile) : middle,
    max: sorted.length > 0 ? quantileSorted(sorted, highQuantile) : middle,
    bins: distributionBins(sorted),
  };
}

/** Deciles of the training values as bin edges, with the share of training values in each bin. */
export function distributionBins(values: ArrayLike<number>): { edges: number[]; shares: number[] } {
  const sorted = ascending(values);
  if (sorted.length === 0) return { edges: [], shares: [1] };
  const edges = [...new Set([1, 2, 3, 4, 5, 6, 7, 8, 9].map((decile) => quantileSorted(sorted, decile / 10)))];
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const value of sorted) counts[binOf(edges, value)]! += 1;
  return { edges, shares: counts.map((count) => count / sorted.length) };
}

/** The bin of a value: the first whose upper edge is at or above it, else the last. */
export function binOf(edges: readonly number[], value: number): number {
  const index = edges.findIndex((edge) => value <= edge);
  return index === -1 ? edges.length : index;
}

function fitCategorical(name: string, values: (string | null)[]): CategoricalTransform {
  const counts = frequencies(values.filter((value): value is string => typeof value === 'string'));
  const mode = counts[0]?.value ?? '';
  const levels = counts.map(({ value }) => value).sort();
  const filled = values.map((value) => (typeof value === 'string' ? value : mode));
  return {
    kind: 'categorical',
    name,
    levels,
    frequencies: levels.map((level) => filled.filter((value) => value === level).length / filled.length),
    mode,
  };
}

function fitImage(
  prepared: PreparedData,
  { width, height }: { width: number; height: number },
  train: readonly number[],
  pixelScale?: number,
): PreprocessingState {
  let min = Infinity;
  let max = -Infinity;
  for (const pixel of prepared.values as Float64Array[]) {
    for (const position of train) {
      min = Math.min(min, pixel[position]!);
      max = Math.max(max, pixel[position]!);
    }
  }
  if (pixelScale !== undefined && !(pixelScale > 0)) throw badOption('pixelScale must be a positive number.');
  const pixelColumns = prepared.features.map((feature) => feature.name);
  return { kind: 'image', width, height, pixelColumns, scale: pixelScale ?? (max > 0 ? max : 1), min, max, columns: pixelColumns };
}

/**
 * Turns cleaned values into one model input row: missing values are imputed,
 * numbers standardized, levels one-hot encoded (an unseen level as all zeros),
 * pixels divided by the scale.
 * @param state the fitted preprocessing
 * @param values one value per feature, in the state's feature order (null = missing)
 */
export function encodeRow(state: PreprocessingState, values: readonly CleanValue[]): number[] {
  if (state.kind === 'image') return values.map((value) => (value as number) / state.scale);
  return state.features.flatMap((feature, index) => {
    const value = values[index] ?? null;
    if (feature.kind === 'numeric') return [((typeof value === 'number' ? value : feature.median) - feature.mean) / feature.std];
    const level = typeof value === 'string' ? value : feature.mode;
    return feature.levels.map((known) => (known === level ? 1 : 0));
  });
}

/**
 * Encodes prepared rows into one matrix, exactly as encodeRow does row by row
 * (the same arithmetic, stored as float32 as a tensor would), without a
 * per-row array.
 * @param state the fitted preprocessing
 * @param values the prepared feature values, column-wise
 * @param positions the rows to encode, in this order
 */
export function encodeRows(state: PreprocessingState, values: readonly FeatureValues[], positions: readonly number[]): Matrix {
  const columns = state.columns.length;
  const matrix = new Float32Array(positions.length * columns);
  let offset = 0;
  values.forEach((feature, index) => {
    const transform = state.kind === 'tabular' ? state.features[index]! : null;
    if (transform?.kind === 'categorical') {
      const levels = transform.levels;
      positions.forEach((position, r) => {
        const level = (feature as (string | null)[])[position] ?? transform.mode;
        const k = levels.indexOf(level);
        if (k >= 0) matrix[r * columns + offset + k] = 1;
      });
      offset += levels.length;
      return;
    }
    const numbers = feature as Float64Array;
    positions.forEach((position, r) => {
      const value = numbers[position]!;
      matrix[r * columns + offset] =
        state.kind === 'image' ? value / state.scale : ((Number.isNaN(value) ? (transform as NumericTransform).median : value) - (transform as NumericTransform).mean) / (transform as NumericTransform).std;
    });
    offset += 1;
  });
  return { values: matrix, rows: positions.length, columns };
}

/**
 * The explanations' reference input, a typical training row: standardized
 * numbers at 0 (the training mean) and one-hot columns at the training share
 * of each level. Images: a blank image.
 */
export function baselineRow(state: PreprocessingState): number[] {
  if (state.kind === 'image') return state.columns.map(() => 0);
  return state.features.flatMap((feature) => (feature.kind === 'numeric' ? [0] : feature.frequencies));
}

/**
 * For each model input column, the index of the feature it comes from (one-hot columns share one).
 */
export function columnFeatureIndex(state: PreprocessingState): number[] {
  if (state.kind === 'image') return state.columns.map((_, index) => index);
  return state.features.flatMap((feature, index) => (feature.kind === 'numeric' ? [index] : feature.levels.map(() => index)));
}
