import type { Dataset } from './csv.ts';
import { badData, badOption } from './errors.ts';
import { ascending, formatNumber, frequencies, mean, quantileSorted, standardDeviation } from './stats.ts';
import { type Cell, cellLevel, missingTokens, parseCell } from './values.ts';

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
  /** `drop` (default): keep the first of identical rows, so that no row is in both training and test; `keep`. */
  duplicates?: 'drop' | 'keep';
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
  notes: string[];
}

/** Usable data and the decisions taken on it, ready to split and preprocess. */
export interface PreparedData {
  report: DataQualityReport;
  /** Indices into dataset.rows of the usable rows. */
  rows: number[];
  features: FeaturePlan[];
  /** Per usable row, per feature: the cleaned value. */
  values: CleanValue[][];
  /** Class labels by class index (binary: [negative, positive]); null for regression. */
  labels: string[] | null;
  /** Per usable row: the class index, or the numeric target for regression. */
  targets: number[];
  /** Image tasks: the image size (the features are its pixels in row-major order). */
  image: { width: number; height: number } | null;
  /** The quantiles published as a range's ends: [0, 1] (minimum and maximum), or [0.01, 0.99] when extremes are hidden. */
  rangeQuantiles: RangeQuantiles;
}

export type RangeQuantiles = readonly [number, number];

export const minimumRows = 20;
const maxClasses = 50;
const outlierRule = 'Tukey fences: below Q1 - 1.5 IQR or above Q3 + 1.5 IQR (quartiles by linear interpolation); counted, not removed';
const positiveWords = ['1', 'yes', 'y', 'true', 'positive', 'pos', 'malignant', 'case', 'event', 'dead', 'died', 'deceased'];
const identifierName = /^(id|.*[_\s-]id|mrn|identifier|record.?(no|number))$/i;

/**
 * Checks data before training and decides what to keep: per-column types and
 * statistics, missing values, outliers, constant and identifier columns,
 * duplicates, unusable targets and class balance.
 * @param dataset the rows collected
 * @param options the target column, the task and the policies
 * @returns the report, the usable rows with their cleaned values and targets
 * @throws PipelineError BAD_OPTION for a wrong option, BAD_DATA when the data cannot train a model
 */
export function assessDataQuality(dataset: Dataset, options: QualityOptions): PreparedData {
  checkOptions(dataset, options);
  const notes: string[] = [];
  const rangeQuantiles = rangeQuantilesOf(options);
  if (options.hideExtremes) notes.push('Ranges (min, max) are the 1st and 99th percentiles: a minimum or maximum would publish one person\'s exact value.');
  const featureColumns = chooseFeatureColumns(dataset, options);
  const targetCells = dataset.rows.map((row) => parseCell(row[options.target]));
  const cells = new Map(featureColumns.map((name) => [name, dataset.rows.map((row) => parseCell(row[name]))]));
  const selected = selectRows(targetCells, cells, options, notes);
  const { columns, features } = planFeatures(featureColumns, selected.rows, cells, options);
  const missingPolicy = options.missing ?? 'impute';
  for (const column of columns.filter((c) => c.role === 'dropped')) notes.push(`${column.name}: ${column.treatment}.`);
  const values = selected.rows.map((i) => features.map((feature) => cleanCell(cells.get(feature.name)![i]!, feature.kind)));
  const { rows, missingFeatures } = applyMissingPolicy(selected.rows, values, columns, missingPolicy, notes);
  const dropped = { ...selected.dropped, missingFeatures };

  if (rows.length < minimumRows) {
    throw badData(
      `Only ${rows.length} usable row(s) in ${dataset.source} (after dropping ${dropped.unusableTarget} with an unusable target, ${dropped.duplicates} duplicates and ${missingFeatures + dropped.unusableImage} with missing values); at least ${minimumRows} are needed to split into training, validation and test sets.`,
      { usableRows: rows.length, minimumRows },
    );
  }
  if (features.length === 0) {
    throw badData(`No usable feature column is left in ${dataset.source}: every column besides "${options.target}" is empty, constant, an identifier or text with too many levels.`);
  }

  const target = summarizeTarget(rows.map((i) => targetCells[i]!), options, notes);
  const report: DataQualityReport = {
    source: dataset.source,
    task: options.task,
    target: options.target,
    rowsRead: dataset.rows.length,
    columnsRead: dataset.columns.length,
    usableRows: rows.length,
    dropped,
    duplicateRows: selected.duplicateRows,
    columns: [targetColumnReport(options, rows.map((i) => targetCells[i]!), target), ...columns],
    classBalance: target.classBalance,
    positiveClass: target.positiveClass,
    targetSummary: target.summary,
    rules: rulesOf(options, missingPolicy),
    notes: [...notes, ...columns.flatMap((column) => column.notes.map((note) => `${column.name}: ${note}`))],
  };
  const image = options.task === 'image' ? { width: options.image!.width, height: options.image!.height } : null;
  const kept = new Set(rows);
  return {
    report,
    rows,
    features,
    values: values.filter((_, k) => kept.has(selected.rows[k]!)),
    labels: target.labels,
    targets: rows.map((i) => target.encode(targetCells[i]!)),
    image,
    rangeQuantiles,
  };
}

function rangeQuantilesOf(options: QualityOptions): RangeQuantiles {
  return options.hideExtremes ? [0.01, 0.99] : [0, 1];
}

/** Drops rows with an unusable target, images with an unusable pixel, and (by default) duplicates. */
function selectRows(targetCells: Cell[], cells: Map<string, Cell[]>, options: QualityOptions, notes: string[]) {
  const classification = options.task !== 'regression';
  let rows = targetCells.map((_, i) => i).filter((i) => targetUsable(targetCells[i]!, classification));
  const unusableTarget = targetCells.length - rows.length;
  if (unusableTarget > 0) notes.push(`${unusableTarget} row(s) dropped: the target "${options.target}" is missing${classification ? '' : ' or not a number'}.`);

  let unusableImage = 0;
  if (options.task === 'image') {
    const before = rows.length;
    rows = rows.filter((i) => [...cells.values()].every((column) => column[i]!.kind === 'number'));
    unusableImage = before - rows.length;
    if (unusableImage > 0) notes.push(`${unusableImage} image row(s) dropped: a pixel is missing or not a number.`);
  }

  const duplicateOf = findDuplicates(rows, [targetCells, ...cells.values()]);
  const dropDuplicates = (options.duplicates ?? 'drop') === 'drop';
  if (dropDuplicates) rows = rows.filter((i) => !duplicateOf.has(i));
  if (duplicateOf.size > 0) notes.push(`${duplicateOf.size} duplicate row(s) ${dropDuplicates ? 'dropped (the first copy is kept)' : 'kept'}.`);
  return { rows, duplicateRows: duplicateOf.size, dropped: { unusableTarget, duplicates: dropDuplicates ? duplicateOf.size : 0, unusableImage } };
}

/** Describes the columns and keeps the usable ones as features; every pixel of an image is one, even a blank one. */
function planFeatures(featureColumns: string[], rows: number[], cells: Map<string, Cell[]>, options: QualityOptions): { columns: ColumnReport[]; features: FeaturePlan[] } {
  if (options.task === 'image') {
    return { columns: [describeImage(featureColumns, rows, cells, options.image!)], features: featureColumns.map((name) => ({ name, kind: 'numeric' })) };
  }
  const columns = featureColumns.map((name) => describeColumn(name, rows.map((i) => cells.get(name)![i]!), options.maxCategoryLevels ?? 10, rangeQuantilesOf(options)));
  const features = columns
    .filter((column) => column.role === 'feature')
    .map((column): FeaturePlan => ({ name: column.name, kind: column.type === 'numeric' ? 'numeric' : 'categorical' }));
  return { columns, features };
}

/** Imputation (noted here, fitted later on the training split) or dropping incomplete rows. */
function applyMissingPolicy(rows: number[], values: CleanValue[][], columns: ColumnReport[], policy: MissingPolicy, notes: string[]) {
  if (policy === 'impute') {
    const gaps = columns.filter((c) => c.role === 'feature' && c.missing > 0);
    const total = gaps.reduce((sum, c) => sum + c.missing, 0);
    if (total > 0) notes.push(`${total} missing value(s) in ${gaps.map((c) => c.name).join(', ')} are imputed with statistics of the training split only.`);
    return { rows, missingFeatures: 0 };
  }
  const complete = rows.filter((_, k) => values[k]!.every((value) => value !== null));
  const missingFeatures = rows.length - complete.length;
  if (missingFeatures > 0) notes.push(`${missingFeatures} row(s) dropped for a missing feature value (policy drop-rows).`);
  return { rows: complete, missingFeatures };
}

function rulesOf(options: QualityOptions, missingPolicy: MissingPolicy): DataQualityReport['rules'] {
  const dropDuplicates = (options.duplicates ?? 'drop') === 'drop';
  return {
    missingValues: `empty cells and the tokens ${missingTokens.filter(Boolean).map((token) => `"${token}"`).join(', ')} (any case) are missing`,
    imputation:
      missingPolicy === 'impute'
        ? 'numeric: median of the training split; text: most frequent level of the training split (fitted on training rows only)'
        : 'rows with any missing feature value are dropped',
    outliers: outlierRule,
    categorical: `text columns with at most ${options.maxCategoryLevels ?? 10} levels are one-hot encoded (levels seen in training; an unseen level encodes as all zeros); text columns with more levels are dropped`,
    constant: 'columns with a single value (or none) carry no information and are dropped',
    duplicates: dropDuplicates ? 'identical rows are dropped, keeping the first' : 'identical rows are kept',
    target: options.task === 'regression' ? 'rows whose target is missing or not a number are dropped' : 'rows whose target is missing are dropped',
  };
}

/** A parsed cell as a feature value: a number (numeric features), a level (text features), or null. */
function cleanCell(cell: Cell, kind: FeaturePlan['kind']): CleanValue {
  if (kind === 'numeric') return cell.kind === 'number' ? cell.value : null;
  return cellLevel(cell);
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

/** Rows equal in every given column to an earlier row, mapped to that earlier row. */
function findDuplicates(rows: number[], columns: Cell[][]): Map<number, number> {
  const first = new Map<string, number>();
  const duplicates = new Map<number, number>();
  for (const i of rows) {
    const key = JSON.stringify(columns.map((cells) => cellLevel(cells[i]!)));
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, i);
    else duplicates.set(i, earlier);
  }
  return duplicates;
}

function describeColumn(name: string, cells: Cell[], maxLevels: number, rangeQuantiles: RangeQuantiles): ColumnReport {
  const present = cells.filter((cell) => cell.kind !== 'missing');
  const numbers = present.flatMap((cell) => (cell.kind === 'number' ? [cell.value] : []));
  const levelCounts = frequencies(present.map((cell) => String(cell.value)));
  const base = { name, count: present.length, missing: cells.length - present.length, distinct: levelCounts.length, notes: [] as string[] };
  if (present.length === 0) return { ...base, ...nothing, type: 'empty', role: 'dropped', treatment: 'dropped: every value is missing' };
  if (levelCounts.length === 1) {
    return { ...base, ...nothing, type: 'constant', role: 'dropped', treatment: `dropped: constant (${levelCounts[0]!.value})` };
  }
  const numeric = numbers.length === present.length;
  if (identifierName.test(name)) {
    return { ...base, ...nothing, type: numeric ? 'numeric' : 'categorical', role: 'dropped', treatment: 'dropped: its name marks an identifier, which must not predict' };
  }
  if (numeric) {
    const { summary, outliers } = numericSummary(numbers, rangeQuantiles);
    return { ...base, summary, outliers, levels: null, type: 'numeric', role: 'feature', treatment: 'standardized (mean and standard deviation of the training split)' };
  }
  const levels = levelCounts.slice(0, 20).map(({ value, count }) => ({ level: value, count }));
  if (numbers.length > 0) {
    base.notes.push(`mixes numbers and text (${present.length - numbers.length} text values such as "${levelCounts.find(({ value }) => !Number.isFinite(Number(value)))?.value}"), so it is read as text`);
  }
  if (levelCounts.length > maxLevels) {
    return { ...base, summary: null, outliers: null, levels, type: 'categorical', role: 'dropped', treatment: `dropped: text with ${levelCounts.length} levels (more than ${maxLevels})` };
  }
  return { ...base, summary: null, outliers: null, levels, type: 'categorical', role: 'feature', treatment: `one-hot encoded (${levelCounts.length} levels)` };
}

const nothing = { summary: null, outliers: null, levels: null };

function numericSummary(values: number[], [lowQuantile, highQuantile]: RangeQuantiles = [0, 1]): { summary: NumericSummary; outliers: number } {
  const sorted = ascending(values);
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
    outliers: values.filter((value) => value < low || value > high).length,
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
function describeImage(pixelColumns: string[], rows: number[], cells: Map<string, Cell[]>, image: ImageOptions): ColumnReport {
  const values = rows.flatMap((i) => pixelColumns.map((name) => (cells.get(name)![i]! as { value: number }).value));
  const { summary } = numericSummary(values);
  return {
    name: `pixels (${pixelColumns.length} columns)`,
    type: 'numeric',
    role: 'feature',
    treatment: `${image.width}x${image.height} image, divided by a constant (the largest pixel value of the training split)`,
    count: values.length,
    missing: 0,
    distinct: new Set(values).size,
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
