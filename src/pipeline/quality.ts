import { cellAt, type DataColumn, type Dataset } from './csv.ts';
import { badData, badOption } from './errors.ts';
import { ascending, countWhere, formatNumber, frequencies, mean, quantileSorted, standardDeviation } from './stats.ts';
import { columnDeterminedByTarget, identifierByContent, isProbableLeak, suspectZeros, leakThresholds, type LeakSuspect, singleColumnStrength } from './data-checks.ts';
import type { ColumnSpec, FeatureSpec } from './feature-spec.ts';
import type { StageCallback } from './stages.ts';
import { type Cell, cellLevel, missingTokens } from './values.ts';

/** What the model predicts: a yes/no outcome, one of several classes, a number, or the class of an image. */
export type Task = 'binary' | 'multiclass' | 'regression' | 'image';
export const tasks: readonly Task[] = ['binary', 'multiclass', 'regression', 'image'];

export interface ImageOptions {
  width: number;
  height: number;
  /** The pixel columns in row-major order; by default every column but the target. */
  pixelColumns?: string[];
}

export interface QualityOptions {
  target: string;
  task: Task;
  image?: ImageOptions;
  /** The class a binary model gives the probability of; inferred when not given (see the report). */
  positiveClass?: string;
  /** `impute` (default): fill gaps from the training split; `drop-rows`: drop rows with any missing feature. */
  missing?: MissingPolicy;
  /**
   * `keep` (default): identical rows are reported and kept (repeated measurements can be equal);
   * `drop`: keep only the first of identical rows.
   */
  duplicates?: 'drop' | 'keep';
  /** Types, units and possible ranges of columns; values outside a possible range are refused or treated as missing, as it says. */
  featureSpec?: FeatureSpec;
  /** The column naming each row's patient (or other unit): splits keep a group's rows on one side; not a feature. */
  group?: string;
  /** Columns to leave out (a leak, an identifier the checks missed, a column recorded after the outcome). */
  exclude?: string[];
  /** Columns flagged as probable leaks that are known before the outcome and may train (reported, not refused). */
  acceptLeaks?: string[];
  /** Text columns with at most this many levels are one-hot encoded, others dropped (default 10). */
  maxCategoryLevels?: number;
  /**
   * Report and store ranges as 1st and 99th percentiles instead of minimum
   * and maximum, which are one person's exact values (set for platform data).
   */
  hideExtremes?: boolean;
}

export type MissingPolicy = 'impute' | 'drop-rows';

/** How a feature enters the model. */
export interface FeaturePlan {
  name: string;
  kind: 'numeric' | 'categorical';
}

/** A cleaned feature value: a number (numeric), a level (categorical) or null (missing). */
export type CleanValue = number | string | null;

/** One feature's cleaned values, row by row: numbers with NaN for missing (numeric), levels with null for missing (categorical). */
export type FeatureValues = Float64Array | (string | null)[];

export interface NumericSummary {
  min: number;
  max: number;
  mean: number;
  median: number;
  std: number;
  q1: number;
  q3: number;
}

export interface ColumnReport {
  name: string;
  /** Inferred from the values: numeric, categorical (text), constant (one value) or empty (all missing). */
  type: 'numeric' | 'categorical' | 'constant' | 'empty';
  role: 'target' | 'feature' | 'dropped';
  /** What the pipeline does with the column, in words. */
  treatment: string;
  /** Values present (not missing). */
  count: number;
  missing: number;
  distinct: number;
  summary: NumericSummary | null;
  /** Values outside the Tukey fences (see rules.outliers); reported, not removed. */
  outliers: number | null;
  /** For text columns: the most frequent levels (up to 20) with counts. */
  levels: { level: string; count: number }[] | null;
  notes: string[];
}

export interface ClassCount {
  label: string;
  count: number;
  fraction: number;
}

/** The data-quality report: JSON-serializable; renderQualityReport prints it. */
export interface DataQualityReport {
  source: string;
  task: Task;
  target: string;
  rowsRead: number;
  columnsRead: number;
  usableRows: number;
  dropped: { unusableTarget: number; duplicates: number; missingFeatures: number; unusableImage: number };
  /** Rows identical (in every used column) to an earlier row. */
  duplicateRows: number;
  columns: ColumnReport[];
  classBalance: ClassCount[] | null;
  positiveClass: string | null;
  targetSummary: NumericSummary | null;
  rules: Record<'missingValues' | 'imputation' | 'outliers' | 'categorical' | 'constant' | 'duplicates' | 'target', string>;
  /** What the checks before training found (the notes say it in words). */
  checks: DataChecks;
  notes: string[];
}

export interface DataChecks {
  /** Columns that alone predict the target almost perfectly; training refuses them unless accepted. */
  probableLeaks: (LeakSuspect & { accepted: boolean })[];
  /** Columns dropped as identifiers because of what they hold (unique per row, in sequence). */
  identifiers: string[];
  /** Numeric columns of a few whole-number codes, one-hot encoded as categories. */
  codedCategories: string[];
  /** Values outside a column's possible range (feature specification), treated as missing. */
  impossibleValues: { column: string; count: number }[];
  /** Zeros in columns without a possible range where 0 is probably impossible ("not measured"): warned, kept. */
  suspectZeros: { column: string; count: number; reason: string }[];
  /** Feature columns with more than 40% missing values. */
  heavilyMissing: string[];
  /** Classification: the smallest class's share of the usable rows, when under 20% (binary; 0.4 / k for k classes). */
  minorityShare: number | null;
}

/** Usable data and the decisions taken on it, ready to split and preprocess. */
export interface PreparedData {
  report: DataQualityReport;
  /** Indices into dataset.rows of the usable rows. */
  rows: number[];
  features: FeaturePlan[];
  /** Per feature, per usable row: the cleaned value (column-wise, so that millions of rows stay compact). */
  values: FeatureValues[];
  /** Class labels by class index (binary: [negative, positive]); null for regression. */
  labels: string[] | null;
  /** Per usable row: the class index, or the numeric target for regression. */
  targets: number[];
  /** Image tasks: the image size (the features are its pixels in row-major order). */
  image: { width: number; height: number } | null;
  /** Per usable row, its group (the group column's value) when rows are grouped; null otherwise. */
  groups: string[] | null;
  /** The quantiles published as a range's ends: [0, 1] (minimum and maximum), or [0.01, 0.99] when extremes are hidden. */
  rangeQuantiles: RangeQuantiles;
}

export type RangeQuantiles = readonly [number, number];

export const minimumRows = 20;
const maxClasses = 50;
const outlierRule = 'Tukey fences: below Q1 - 1.5 IQR or above Q3 + 1.5 IQR (quartiles by linear interpolation); counted, not removed';
const positiveWords = ['1', 'yes', 'y', 'true', 'positive', 'pos', 'malignant', 'case', 'event', 'dead', 'died', 'deceased'];
const identifierName = /^(id|.*[_\s-]id|mrn|identifier|record.?(no|number))$/i;
/** Whole-number columns with 3 to this many distinct values are codes (race 1/2/3, a grade), encoded as categories. */
const maxCodedLevels = 8;
/** Above this share of missing values a feature is flagged. */
const heavyMissingShare = 0.4;
/** Under this share of rows the smallest class is flagged. */
const minorityWarningShare = 0.2;

/** The steps of assessDataQuality reported to onStage. */
const checkSteps = 4;

/**
 * Checks data before training and decides what to keep: per-column types and
 * statistics, missing values, outliers, constant and identifier columns,
 * duplicates, unusable targets and class balance.
 * @param dataset the rows collected
 * @param options the target column, the task and the policies
 * @param onStage told as each step of the checks starts (they take seconds on files of millions of rows)
 * @returns the report, the usable rows with their cleaned values and targets
 * @throws PipelineError BAD_OPTION for a wrong option, BAD_DATA when the data cannot train a model
 */
export function assessDataQuality(dataset: Dataset, options: QualityOptions, onStage?: StageCallback): PreparedData {
  checkOptions(dataset, options);
  const step = (detail: string, done: number) => onStage?.({ stage: 'check', detail, fraction: done / checkSteps });
  step('possible ranges', 0);
  const notes: string[] = [];
  const rangeQuantiles = rangeQuantilesOf(options);
  if (options.hideExtremes) notes.push('Ranges (min, max) are the 1st and 99th percentiles: a minimum or maximum would publish one person\'s exact value.');
  const featureColumns = chooseFeatureColumns(dataset, options);
  const targetColumn = dataset.data.get(options.target)!;
  const impossibleValues: DataChecks['impossibleValues'] = [];
  const cells = new Map(featureColumns.map((name) => [name, withinPossibleRange(name, dataset.data.get(name)!, options.featureSpec?.features[name], impossibleValues, notes)]));
  step('duplicates and targets', 1);
  const selected = selectRows(dataset.rowCount, targetColumn, cells, options, notes);
  step('column types and statistics', 2);
  const { columns, features } = planFeatures(featureColumns, selected.rows, cells, options);
  const missingPolicy = options.missing ?? 'impute';
  for (const column of columns.filter((c) => c.role === 'dropped')) notes.push(`${column.name}: ${column.treatment}.`);
  const { rows, missingFeatures } = applyMissingPolicy(selected.rows, features, cells, columns, missingPolicy, notes);
  const dropped = { ...selected.dropped, missingFeatures };

  if (rows.length < minimumRows) {
    throw badData(
      `Only ${rows.length} usable row(s) in ${dataset.source} (after dropping ${dropped.unusableTarget} with an unusable target, ${dropped.duplicates} duplicates and ${missingFeatures + dropped.unusableImage} with missing values); at least ${minimumRows} are needed to split into training, validation and test sets.`,
      { usableRows: rows.length, minimumRows },
    );
  }
  const target = summarizeTarget(rows.map((i) => cellAt(targetColumn, i)), options, notes);
  if (features.length === 0) {
    throw badData(`No usable feature column is left in ${dataset.source}: every column besides "${options.target}" is empty, constant, an identifier or text with too many levels.`);
  }
  const targets = rows.map((i) => target.encode(cellAt(targetColumn, i)));
  const values = features.map((feature) => featureValues(cells.get(feature.name)!, feature.kind, rows));
  step('leak checks', 3);
  const checks: DataChecks = {
    probableLeaks: options.task === 'image' ? [] : probableLeaks(features, values, targets, options),
    identifiers: columns.filter((column) => column.treatment.startsWith('dropped: an identifier')).map((column) => column.name),
    codedCategories: columns.filter((column) => column.treatment.startsWith('one-hot encoded as codes')).map((column) => column.name),
    impossibleValues,
    suspectZeros: options.task === 'image' ? [] : zerosToWarn(features, values, options),
    heavilyMissing: columns.filter((column) => column.role === 'feature' && column.missing > heavyMissingShare * (column.count + column.missing)).map((column) => column.name),
    minorityShare: minorityShare(target.classBalance),
  };
  notes.push(...checkNotes(checks, options));
  const report: DataQualityReport = {
    source: dataset.source,
    task: options.task,
    target: options.target,
    rowsRead: dataset.rowCount,
    columnsRead: dataset.columns.length,
    usableRows: rows.length,
    dropped,
    duplicateRows: selected.duplicateRows,
    columns: [targetColumnReport(options, rows.map((i) => cellAt(targetColumn, i)), target), ...columns],
    classBalance: target.classBalance,
    positiveClass: target.positiveClass,
    targetSummary: target.summary,
    rules: rulesOf(options, missingPolicy),
    checks,
    notes: [...notes, ...columns.flatMap((column) => column.notes.map((note) => `${column.name}: ${note}`))],
  };
  const image = options.task === 'image' ? { width: options.image!.width, height: options.image!.height } : null;
  return {
    report,
    rows,
    features,
    values,
    labels: target.labels,
    targets,
    groups: options.group ? groupKeys(dataset.data.get(options.group)!, rows) : null,
    image,
    rangeQuantiles,
  };
}

/**
 * A column with its impossible values (outside the specification's possible
 * range) refused, or turned into missing values when the specification says so.
 * @throws PipelineError BAD_DATA naming the column, how many values and an example, when they are refused
 */
function withinPossibleRange(name: string, column: DataColumn, spec: ColumnSpec | undefined, found: DataChecks['impossibleValues'], notes: string[]): DataColumn {
  const range = spec?.possibleRange;
  if (!range) return column;
  const [low, high] = range;
  const outside: number[] = [];
  column.numbers.forEach((value, i) => {
    if (value < low || value > high) outside.push(i);
  });
  if (outside.length === 0) return column;
  const example = column.numbers[outside[0]!]!;
  const where = `${outside.length} value(s) of "${name}" lie outside its possible range ${low} to ${high}${spec.unit ? ` ${spec.unit}` : ''} (such as ${example} in data row ${outside[0]! + 1})`;
  if (spec.impossible === 'refuse') {
    throw badData(`${where}. Correct them, or if they stand for "not measured" (a 0 for an unknown glucose), mark the column "impossible": "missing" in the feature specification.`, {
      column: name,
      count: outside.length,
    });
  }
  const numbers = Float64Array.from(column.numbers);
  for (const i of outside) numbers[i] = Number.NaN;
  found.push({ column: name, count: outside.length });
  notes.push(`${where}: treated as missing, as the feature specification says.`);
  return { numbers, texts: column.texts };
}

/** Each feature's single-column strength against the target; refuses probable leaks that were not accepted. */
function probableLeaks(features: FeaturePlan[], values: FeatureValues[], targets: number[], options: QualityOptions): DataChecks['probableLeaks'] {
  const kind = options.task === 'regression' ? 'regression' : options.task === 'binary' ? 'binary' : 'multiclass';
  const target = { kind, values: targets } as const;
  const leaks = features.flatMap((feature, k) => {
    const strength = singleColumnStrength(feature.name, values[k]!, target);
    // A binary target determines a column exactly when the column predicts it, which the AUROC already measures.
    const determined = kind === 'binary' ? null : columnDeterminedByTarget(feature.name, values[k]!, target);
    const leak = [strength, determined].find((suspect) => suspect && isProbableLeak(suspect));
    return leak ? [{ ...leak, accepted: (options.acceptLeaks ?? []).includes(feature.name) }] : [];
  });
  const refused = leaks.filter((leak) => !leak.accepted);
  if (refused.length > 0) {
    const named = refused.map((leak) => `"${leak.column}" (${leak.metric} ${leak.value.toFixed(3)})`).join(', ');
    throw badData(
      `Probable target leak: ${named} alone predict(s) "${options.target}" almost perfectly or follow(s) from it (${leakRule}). A column that is the outcome in another form, or is recorded after it, must not be an input: leave it out (exclude), or if it is truly known before the outcome, accept it (acceptLeaks).`,
      { columns: refused.map((leak) => leak.column) },
    );
  }
  return leaks;
}

const leakRule = `single-column AUROC >= ${leakThresholds.AUROC}, accuracy >= ${leakThresholds.accuracy} or R² >= ${leakThresholds['R²']}; or a column of few values that the target determines, determinism >= ${leakThresholds.determinism}`;

/** Numeric features without a possible range whose zeros are probably "not measured" (a range, when given, decides instead). */
function zerosToWarn(features: FeaturePlan[], values: FeatureValues[], options: QualityOptions): DataChecks['suspectZeros'] {
  return features.flatMap((feature, k) => {
    const spec = options.featureSpec?.features[feature.name];
    const found = feature.kind === 'numeric' && !spec?.possibleRange ? suspectZeros(feature.name, values[k] as Float64Array, spec?.unit ?? null) : null;
    return found ? [{ column: feature.name, ...found }] : [];
  });
}

/** The smallest class's share when under 20% (binary), or under the same fraction of an even split (k classes: 0.4 / k). */
function minorityShare(classBalance: ClassCount[] | null): number | null {
  if (!classBalance) return null;
  const smallest = Math.min(...classBalance.map((entry) => entry.fraction));
  return smallest < (minorityWarningShare * 2) / classBalance.length ? smallest : null;
}

/** The checks' findings in words, as warnings in the report. */
function checkNotes(checks: DataChecks, options: QualityOptions): string[] {
  const notes: string[] = [];
  for (const leak of checks.probableLeaks) {
    const how = leak.metric === 'determinism' ? `is nearly a function of "${options.target}" (determinism ${leak.value.toFixed(3)})` : `alone predicts "${options.target}" with ${leak.metric} ${leak.value.toFixed(3)}`;
    notes.push(`Warning: "${leak.column}" ${how}; accepted as known before the outcome.`);
  }
  for (const { column, count, reason } of checks.suspectZeros) {
    notes.push(
      `Warning: "${column}" has ${count} zero(s) where 0 is probably impossible (${reason}): a 0 often stands for "not measured". They are used as zeros; if they are not real, give the column a possible range in a feature specification with "impossible": "missing".`,
    );
  }
  if (checks.heavilyMissing.length > 0) notes.push(`Warning: more than ${heavyMissingShare * 100}% of the values are missing in ${checks.heavilyMissing.join(', ')}: imputation carries much of these columns.`);
  if (checks.minorityShare !== null) {
    notes.push(`Warning: the smallest class is ${(checks.minorityShare * 100).toFixed(1)}% of the rows: accuracy flatters, look at recall, AUPRC and the threshold.`);
  }
  return notes;
}

/** Each row's group; a row without one is a group of its own. */
function groupKeys(column: DataColumn, rows: readonly number[]): string[] {
  return rows.map((i) => cellLevel(cellAt(column, i)) ?? `\u0000row ${i}`);
}

function rangeQuantilesOf(options: QualityOptions): RangeQuantiles {
  return options.hideExtremes ? [0.01, 0.99] : [0, 1];
}

/** Drops rows with an unusable target, images with an unusable pixel, and (by default) duplicates. */
function selectRows(rowCount: number, target: DataColumn, cells: Map<string, DataColumn>, options: QualityOptions, notes: string[]) {
  const classification = options.task !== 'regression';
  let rows: number[] = [];
  for (let i = 0; i < rowCount; i++) if (targetUsable(cellAt(target, i), classification)) rows.push(i);
  const unusableTarget = rowCount - rows.length;
  if (unusableTarget > 0) notes.push(`${unusableTarget} row(s) dropped: the target "${options.target}" is missing${classification ? '' : ' or not a number'}.`);

  let unusableImage = 0;
  if (options.task === 'image') {
    const before = rows.length;
    const pixels = [...cells.values()];
    rows = rows.filter((i) => pixels.every((column) => !Number.isNaN(column.numbers[i]!)));
    unusableImage = before - rows.length;
    if (unusableImage > 0) notes.push(`${unusableImage} image row(s) dropped: a pixel is missing or not a number.`);
  }

  const duplicateOf = findDuplicates(rows, [target, ...cells.values()]);
  const dropDuplicates = options.duplicates === 'drop';
  if (dropDuplicates) rows = rows.filter((i) => !duplicateOf.has(i));
  if (duplicateOf.size > 0) notes.push(`${duplicateOf.size} duplicate row(s) ${dropDuplicates ? 'dropped (the first copy is kept)' : 'kept'}.`);
  return { rows, duplicateRows: duplicateOf.size, dropped: { unusableTarget, duplicates: dropDuplicates ? duplicateOf.size : 0, unusableImage } };
}

/** Describes the columns and keeps the usable ones as features; every pixel of an image is one, even a blank one. */
function planFeatures(featureColumns: string[], rows: number[], cells: Map<string, DataColumn>, options: QualityOptions): { columns: ColumnReport[]; features: FeaturePlan[] } {
  if (options.task === 'image') {
    return { columns: [describeImage(featureColumns, rows, cells, options.image!)], features: featureColumns.map((name) => ({ name, kind: 'numeric' })) };
  }
  const columns = featureColumns.map((name) => describeColumn(name, cells.get(name)!, rows, options));
  const features = columns
    .filter((column) => column.role === 'feature')
    .map((column): FeaturePlan => ({ name: column.name, kind: column.type === 'numeric' ? 'numeric' : 'categorical' }));
  return { columns, features };
}

/** Imputation (noted here, fitted later on the training split) or dropping incomplete rows. */
function applyMissingPolicy(rows: number[], features: FeaturePlan[], cells: Map<string, DataColumn>, columns: ColumnReport[], policy: MissingPolicy, notes: string[]) {
  if (policy === 'impute') {
    const gaps = columns.filter((c) => c.role === 'feature' && c.missing > 0);
    const total = gaps.reduce((sum, c) => sum + c.missing, 0);
    if (total > 0) notes.push(`${total} missing value(s) in ${gaps.map((c) => c.name).join(', ')} are imputed with statistics of the training split only.`);
    return { rows, missingFeatures: 0 };
  }
  const used = features.map((feature) => cells.get(feature.name)!);
  const complete = rows.filter((i) => used.every((column) => cellAt(column, i).kind !== 'missing'));
  const missingFeatures = rows.length - complete.length;
  if (missingFeatures > 0) notes.push(`${missingFeatures} row(s) dropped for a missing feature value (policy drop-rows).`);
  return { rows: complete, missingFeatures };
}

/**
 * One feature's cleaned values on the usable rows, column-wise: numbers with
 * NaN where missing (numeric), or levels with null where missing (categorical).
 */
function featureValues(column: DataColumn, kind: FeaturePlan['kind'], rows: readonly number[]): FeatureValues {
  if (kind === 'numeric') {
    const numbers = new Float64Array(rows.length);
    rows.forEach((i, k) => (numbers[k] = column.numbers[i]!));
    return numbers;
  }
  return rows.map((i) => cellLevel(cellAt(column, i)));
}

function rulesOf(options: QualityOptions, missingPolicy: MissingPolicy): DataQualityReport['rules'] {
  const dropDuplicates = options.duplicates === 'drop';
  return {
    missingValues: `empty cells and the tokens ${missingTokens.filter(Boolean).map((token) => `"${token}"`).join(', ')} (any case) are missing`,
    imputation:
      missingPolicy === 'impute'
        ? 'numeric: median of the training split; text: most frequent level of the training split (fitted on training rows only)'
        : 'rows with any missing feature value are dropped',
    outliers: outlierRule,
    categorical: `text columns with at most ${options.maxCategoryLevels ?? 10} levels are one-hot encoded (levels seen in training; an unseen level encodes as all zeros); text columns with more levels are dropped`,
    constant: 'columns with a single value (or none) carry no information and are dropped',
    duplicates: dropDuplicates ? 'identical rows are dropped, keeping the first' : 'identical rows are reported and kept (repeated measurements can be equal); drop them only on request',
    target: options.task === 'regression' ? 'rows whose target is missing or not a number are dropped' : 'rows whose target is missing are dropped',
  };
}

function checkOptions(dataset: Dataset, options: QualityOptions): void {
  if (!tasks.includes(options.task)) {
    throw badOption(`Unknown task "${String(options.task)}": use one of ${tasks.join(', ')}.`);
  }
  if (!dataset.columns.includes(options.target)) {
    throw badOption(
      `The target column "${options.target}" is not in ${dataset.source}; its columns are: ${dataset.columns.join(', ')}.`,
      { columns: dataset.columns },
    );
  }
  const maxLevels = options.maxCategoryLevels ?? 10;
  if (!Number.isInteger(maxLevels) || maxLevels < 2) throw badOption('maxCategoryLevels must be an integer of at least 2.');
  for (const [option, names] of [['exclude', options.exclude], ['acceptLeaks', options.acceptLeaks], ['group', options.group === undefined ? [] : [options.group]]] as const) {
    const unknown = (names ?? []).filter((name) => !dataset.columns.includes(name) || name === options.target);
    if (unknown.length > 0) throw badOption(`${option} names columns that are not features of ${dataset.source}: ${unknown.join(', ')}.`, { columns: unknown });
  }
  // A misspelt name would silently turn that column's range checks off.
  const unspecified = Object.keys(options.featureSpec?.features ?? {}).filter((name) => !dataset.columns.includes(name));
  if (unspecified.length > 0) {
    throw badOption(`The feature specification names columns that are not in ${dataset.source}: ${unspecified.join(', ')}. Its columns are: ${dataset.columns.join(', ')}.`, { columns: unspecified });
  }
  if (options.task === 'image') {
    const { width, height } = options.image ?? { width: 0, height: 0 };
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw badOption('The image task needs the image width and height (positive integers).');
    }
  }
}

function chooseFeatureColumns(dataset: Dataset, options: QualityOptions): string[] {
  const others = dataset.columns.filter((column) => column !== options.target);
  if (options.task !== 'image') return others;
  const { width, height, pixelColumns = others } = options.image!;
  const unknown = pixelColumns.filter((column) => !dataset.columns.includes(column));
  if (unknown.length > 0) throw badOption(`Pixel columns not in ${dataset.source}: ${unknown.join(', ')}.`);
  if (pixelColumns.length !== width * height) {
    throw badOption(
      `The image task expects ${width}x${height} = ${width * height} pixel columns, but ${pixelColumns.length} were found in ${dataset.source}. Check the width and height, or name the pixel columns.`,
      { expected: width * height, found: pixelColumns.length },
    );
  }
  return pixelColumns;
}

function targetUsable(cell: Cell, classification: boolean): boolean {
  return classification ? cell.kind !== 'missing' : cell.kind === 'number';
}

/**
 * Rows equal in every given column to an earlier row, mapped to that earlier
 * row. Rows are bucketed by a 32-bit hash of their cells and compared cell by
 * cell only within a bucket, so that a million rows need no text key each.
 */
function findDuplicates(rows: number[], columns: DataColumn[]): Map<number, number> {
  const first = new Map<number, number>();
  const collided = new Map<number, number[]>();
  const duplicates = new Map<number, number>();
  for (const i of rows) {
    const hash = rowHash(columns, i);
    const earlier = first.get(hash);
    if (earlier === undefined) {
      first.set(hash, i);
      continue;
    }
    const others = collided.get(hash) ?? [];
    const same = [earlier, ...others].find((j) => sameRow(columns, i, j));
    if (same !== undefined) duplicates.set(i, same);
    else collided.set(hash, [...others, i]);
  }
  return duplicates;
}

const hashBits = new Float64Array(1);
const hashWords = new Uint32Array(hashBits.buffer);

/** FNV-1a-style mix of each cell: a number's bits (missing as NaN, -0 as 0), or a text's characters. */
function rowHash(columns: DataColumn[], row: number): number {
  let hash = 0x811c9dc5;
  const mix = (word: number) => {
    hash = Math.imul(hash ^ word, 0x01000193);
  };
  for (const column of columns) {
    const text = column.texts?.[row];
    if (text === undefined) {
      hashBits[0] = column.numbers[row]! + 0;
      mix(hashWords[0]!);
      mix(hashWords[1]!);
    } else {
      mix(0x9e3779b9);
      for (let k = 0; k < text.length; k++) mix(text.charCodeAt(k));
    }
  }
  return hash >>> 0;
}

/** Equal in every column: the same text, the same number, or both missing. */
function sameRow(columns: DataColumn[], a: number, b: number): boolean {
  return columns.every((column) => {
    const [textA, textB] = [column.texts?.[a], column.texts?.[b]];
    if (textA !== undefined || textB !== undefined) return textA === textB;
    const [numberA, numberB] = [column.numbers[a]!, column.numbers[b]!];
    return numberA === numberB || (Number.isNaN(numberA) && Number.isNaN(numberB));
  });
}

function describeColumn(name: string, column: DataColumn, rows: readonly number[], options: QualityOptions): ColumnReport {
  const { numbers, texts, missing } = presentValues(column, rows);
  const present = numbers.length + texts.length;
  const spec = options.featureSpec?.features[name];
  const numeric = texts.length === 0 && spec?.type !== 'categorical' && spec?.type !== 'binary';
  const sorted = texts.length === 0 ? Float64Array.from(numbers).sort() : null;
  const levelCounts = numeric ? null : frequencies(rows.flatMap((i) => cellLevel(cellAt(column, i)) ?? []));
  const distinct = sorted ? distinctSorted(sorted) : levelCounts!.length;
  const base = { name, count: present, missing, distinct, notes: [] as string[] };
  const dropped = (type: ColumnReport['type'], treatment: string): ColumnReport => ({ ...base, ...nothing, type, role: 'dropped', treatment });
  if (options.exclude?.includes(name)) return dropped(numeric ? 'numeric' : 'categorical', 'dropped: excluded by the user');
  if (options.group === name) return dropped(numeric ? 'numeric' : 'categorical', 'dropped: groups the rows for splitting (one group\'s rows stay on one side), not a feature');
  if (present === 0) return dropped('empty', 'dropped: every value is missing');
  if (distinct === 1) return dropped('constant', `dropped: constant (${sorted ? String(sorted[0]) : levelCounts![0]!.value})`);
  if (identifierName.test(name)) return dropped(numeric ? 'numeric' : 'categorical', 'dropped: its name marks an identifier, which must not predict');
  if (spec?.type === 'numeric' && texts.length > 0) {
    throw badData(`The feature specification says "${name}" is numeric, but it holds text such as "${texts[0]}".`, { column: name });
  }
  if (!spec?.type && distinct > present / 2) {
    const identifier = numbers.length === 0 ? identifierByContent(texts) : texts.length === 0 ? identifierByContent(numbers) : null;
    if (identifier) return dropped(numeric ? 'numeric' : 'categorical', `dropped: an identifier by its content (${identifier}), which must not predict`);
  }
  const coded = numeric && !spec?.type && distinct >= 3 && distinct <= Math.min(maxCodedLevels, options.maxCategoryLevels ?? 10) && numbers.every(Number.isInteger);
  if (numeric && !coded) {
    const { summary, outliers } = numericSummary(numbers, rangeQuantilesOf(options), sorted!);
    if (distinct === 2) return { ...base, summary, outliers: null, levels: null, type: 'numeric', role: 'feature', treatment: `two values (binary): used as a number, standardized, and explained as categories ("${sorted![sorted!.length - 1]} rather than ${sorted![0]}"); no outliers counted` };
    return { ...base, summary, outliers, levels: null, type: 'numeric', role: 'feature', treatment: 'standardized (mean and standard deviation of the training split)' };
  }
  const counts = levelCounts ?? frequencies(numbers.map(String));
  const levels = counts.slice(0, 20).map(({ value, count }) => ({ level: value, count }));
  if (coded) {
    return { ...base, summary: null, outliers: null, levels, type: 'categorical', role: 'feature', treatment: `one-hot encoded as codes (${distinct} whole-number levels: categories, not amounts)` };
  }
  if (numbers.length > 0 && texts.length > 0) {
    base.notes.push(`mixes numbers and text (${texts.length} text values such as "${texts[0]}"), so it is read as text`);
  }
  const maxLevels = options.maxCategoryLevels ?? 10;
  if (distinct > maxLevels) {
    return { ...base, summary: null, outliers: null, levels, type: 'categorical', role: 'dropped', treatment: `dropped: text with ${distinct} levels (more than ${maxLevels})` };
  }
  const why = spec?.type ? ` as the feature specification says (${spec.type})` : '';
  return { ...base, summary: null, outliers: null, levels, type: 'categorical', role: 'feature', treatment: `one-hot encoded (${distinct} levels)${why}` };
}

/** A column's numbers (in row order) and texts on the given rows, and how many cells are missing. */
function presentValues(column: DataColumn, rows: readonly number[]): { numbers: number[]; texts: string[]; missing: number } {
  const numbers: number[] = [];
  const texts: string[] = [];
  for (const i of rows) {
    const text = column.texts?.[i];
    if (text !== undefined) texts.push(text);
    else if (!Number.isNaN(column.numbers[i]!)) numbers.push(column.numbers[i]!);
  }
  return { numbers, texts, missing: rows.length - numbers.length - texts.length };
}

function distinctSorted(sorted: Float64Array): number {
  let distinct = sorted.length > 0 ? 1 : 0;
  for (let k = 1; k < sorted.length; k++) if (sorted[k] !== sorted[k - 1]) distinct += 1;
  return distinct;
}

const nothing = { summary: null, outliers: null, levels: null };

/** Summary statistics and Tukey outliers; `sorted` is the values in ascending order when the caller has it. */
function numericSummary(values: ArrayLike<number>, [lowQuantile, highQuantile]: RangeQuantiles = [0, 1], sorted: ArrayLike<number> = ascending(values)): { summary: NumericSummary; outliers: number } {
  const q1 = quantileSorted(sorted, 0.25);
  const q3 = quantileSorted(sorted, 0.75);
  const low = q1 - 1.5 * (q3 - q1);
  const high = q3 + 1.5 * (q3 - q1);
  return {
    summary: {
      min: quantileSorted(sorted, lowQuantile),
      max: quantileSorted(sorted, highQuantile),
      mean: mean(values),
      median: quantileSorted(sorted, 0.5),
      std: standardDeviation(values),
      q1,
      q3,
    },
    outliers: countWhere(values, (value) => value < low || value > high),
  };
}

interface TargetFacts {
  labels: string[] | null;
  positiveClass: string | null;
  classBalance: ClassCount[] | null;
  summary: NumericSummary | null;
  encode: (cell: Cell) => number;
}

function summarizeTarget(cells: Cell[], options: QualityOptions, notes: string[]): TargetFacts {
  if (options.task === 'regression') {
    const values = cells.map((cell) => (cell.kind === 'number' ? cell.value : Number.NaN));
    const { summary } = numericSummary(values, rangeQuantilesOf(options));
    if (summary.min === summary.max) throw badData(`The target "${options.target}" has the same value (${summary.min}) in every usable row: there is nothing to predict.`);
    return { labels: null, positiveClass: null, classBalance: null, summary, encode: (cell) => (cell.kind === 'number' ? cell.value : Number.NaN) };
  }
  const counts = frequencies(cells.map((cell) => cellLevel(cell)!));
  const levels = sortLevels(counts.map(({ value }) => value));
  if (levels.length < 2) {
    throw badData(`The target "${options.target}" has a single class ("${levels[0]}") in the usable rows: a classifier needs at least two.`);
  }
  if (options.task === 'binary' && levels.length > 2) {
    throw badData(`The target "${options.target}" has ${levels.length} classes (${levels.slice(0, 5).join(', ')}${levels.length > 5 ? ', ...' : ''}); use the task "multiclass", or recode it into two classes.`);
  }
  if (levels.length > maxClasses) {
    throw badData(`The target "${options.target}" has ${levels.length} distinct values; a classifier supports at most ${maxClasses}. For a numeric outcome use the task "regression".`);
  }
  const positiveClass = options.task === 'binary' ? choosePositiveClass(levels, counts, options, notes) : null;
  const labels = positiveClass === null ? levels : [levels.find((level) => level !== positiveClass)!, positiveClass];
  const countOf = new Map(counts.map(({ value, count }) => [value, count]));
  const classBalance = labels.map((label) => ({ label, count: countOf.get(label)!, fraction: countOf.get(label)! / cells.length }));
  for (const { label, count } of classBalance) {
    if (count < 5) notes.push(`Class "${label}" has only ${count} row(s): its figures will be unreliable and it may be missing from a split.`);
  }
  const index = new Map(labels.map((label, i) => [label, i]));
  return { labels, positiveClass, classBalance, summary: null, encode: (cell) => index.get(cellLevel(cell)!)! };
}

/** Numeric labels sort by value, others alphabetically, so "2" comes before "10". */
function sortLevels(levels: string[]): string[] {
  const numeric = levels.every((level) => Number.isFinite(Number(level)));
  return [...levels].sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => a.localeCompare(b));
}

function choosePositiveClass(levels: string[], counts: { value: string; count: number }[], options: QualityOptions, notes: string[]): string {
  if (options.positiveClass !== undefined) {
    if (!levels.includes(options.positiveClass)) {
      throw badOption(`The positive class "${options.positiveClass}" is not a value of "${options.target}" (its values: ${levels.join(', ')}).`);
    }
    return options.positiveClass;
  }
  const named = levels.find((level) => positiveWords.includes(level.toLowerCase()));
  const chosen = named ?? counts[counts.length - 1]!.value;
  notes.push(`Positive class "${chosen}" ${named ? 'inferred from its name' : 'taken as the less frequent class'}; set positiveClass to choose another.`);
  return chosen;
}

function targetColumnReport(options: QualityOptions, cells: Cell[], target: TargetFacts): ColumnReport {
  return {
    name: options.target,
    type: target.labels ? 'categorical' : 'numeric',
    role: 'target',
    treatment: target.labels ? `target: ${target.labels.length} classes` : 'target (regression)',
    count: cells.length,
    missing: 0,
    distinct: new Set(cells.map(cellLevel)).size,
    summary: target.summary,
    outliers: null,
    levels: target.classBalance?.map(({ label, count }) => ({ level: label, count })) ?? null,
    notes: [],
  };
}

/** Pixels are one feature block: one summary line instead of one per pixel. */
function describeImage(pixelColumns: string[], rows: number[], cells: Map<string, DataColumn>, image: ImageOptions): ColumnReport {
  const values = new Float64Array(rows.length * pixelColumns.length);
  rows.forEach((i, k) => pixelColumns.forEach((name, p) => (values[k * pixelColumns.length + p] = cells.get(name)!.numbers[i]!)));
  const sorted = Float64Array.from(values).sort();
  const { summary } = numericSummary(values, [0, 1], sorted);
  return {
    name: `pixels (${pixelColumns.length} columns)`,
    type: 'numeric',
    role: 'feature',
    treatment: `${image.width}x${image.height} image, divided by a constant (the largest pixel value of the training split)`,
    count: values.length,
    missing: 0,
    distinct: distinctSorted(sorted),
    summary,
    outliers: null,
    levels: null,
    notes: [],
  };
}

/**
 * The report as plain text for a terminal.
 * @param report a report from assessDataQuality
 * @returns lines of text, ending with a newline
 */
export function renderQualityReport(report: DataQualityReport): string {
  const { dropped } = report;
  const lines = [
    `Data quality: ${report.source}, target "${report.target}" (${report.task})`,
    `Rows: ${report.rowsRead} read, ${report.usableRows} usable; dropped ${dropped.unusableTarget} with an unusable target, ${dropped.duplicates} duplicate(s), ${dropped.missingFeatures + dropped.unusableImage} with missing values (${report.duplicateRows} duplicate row(s) found)`,
  ];
  if (report.classBalance) {
    const balance = report.classBalance.map(({ label, count, fraction }) => `${label} ${count} (${(fraction * 100).toFixed(1)}%)`);
    lines.push(`Class balance: ${balance.join(', ')}${report.positiveClass ? `; positive class: ${report.positiveClass}` : ''}`);
  }
  if (report.targetSummary) {
    const { min, median: middle, mean: average, max } = report.targetSummary;
    lines.push(`Target: min ${format(min)}, median ${format(middle)}, mean ${format(average)}, max ${format(max)}`);
  }
  lines.push('', 'Columns:');
  const header = ['column', 'type', 'missing', 'min', 'median', 'mean', 'max', 'outliers', 'treatment'];
  const body = report.columns.map((column) => [
    column.name,
    column.type,
    String(column.missing),
    ...(column.summary ? [column.summary.min, column.summary.median, column.summary.mean, column.summary.max].map(format) : ['', '', '', '']),
    column.outliers === null ? '' : String(column.outliers),
    column.treatment,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)));
  for (const cells of [header, ...body]) lines.push(`  ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}`);
  lines.push('', 'Rules:', ...Object.entries(report.rules).map(([name, rule]) => `  ${name}: ${rule}`));
  if (report.notes.length > 0) lines.push('', 'Notes:', ...report.notes.map((note) => `  - ${note}`));
  return `${lines.join('\n')}\n`;
}

const format = (value: number) => formatNumber(value, 4);
