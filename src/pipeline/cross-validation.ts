import { calibrationEvents, chanceCalibrationError } from './calibration.ts';
import { badOption } from './errors.ts';
import { computeMetrics, type EvaluationTarget } from './evaluate.ts';
import { eceSweep } from './metrics.ts';
import { allocateGroups, assignFolds, type DataSplit } from './preprocess.ts';
import { mean, standardDeviation } from './stats.ts';
import { crossFitBelowRows } from './uncertainty.ts';

/** k folds, repeated with different fold assignments (`--cv 5` is 5x1, `--cv 5x5` five repeats). */
export interface CrossValidationOptions {
  folds: number;
  repeats?: number;
}

/** The spread of one metric over the folds. */
export interface FoldSpread {
  mean: number;
  /** Standard deviation across folds (n - 1). */
  sd: number;
  min: number;
  max: number;
  /** Folds where the metric was defined. */
  folds: number;
}

/** What cross-validation found: per metric, the model's and the baseline's spread across folds. JSON-serializable. */
export interface CrossValidationResult {
  folds: number;
  repeats: number;
  /** The column whose groups (patients) never straddle a training and a held-out fold; null when rows are split one by one. */
  groupedBy: string | null;
  metrics: Record<string, { model: FoldSpread | null; baseline: FoldSpread | null }>;
  /** What the figures describe, and how the stored model was trained. */
  procedure: string;
  statement: string;
}

/** Held-out outputs of one fold. */
export interface FoldOutputs {
  actual: number[];
  model: number[][];
  baseline: number[][];
  /** Share of the held-out rows whose conformal set or interval (fitted on the fold's validation rows) holds the truth. */
  coverage?: number;
  /** Binary: the decision threshold the rule chose on the fold's validation rows (absent: the target's). */
  threshold?: number;
}

/** Trains the network and its baseline on a split's training rows (validation for early stopping) and predicts its test rows. */
export type FitFold = (split: DataSplit, fold: { repeat: number; fold: number }) => Promise<FoldOutputs>;

/** Share of the training folds (by group) held out for early stopping, recalibration, the threshold and the conformal quantile. */
const validationShare = 0.15;

const reported: Record<EvaluationTarget['kind'], string[]> = {
  binary: ['auroc', 'accuracy', 'f1', 'brier', 'ece', 'eceChance', 'eceSweep', 'eceSweepChance', 'coverage'],
  multiclass: ['accuracy', 'auroc', 'f1', 'ece', 'eceChance', 'eceSweep', 'eceSweepChance', 'coverage'],
  regression: ['r2', 'rmse', 'mae', 'coverage'],
};

/**
 * Parses `5` or `5x5` (folds x repeats).
 * @throws PipelineError BAD_OPTION for anything else, or fewer than 2 or more than 20 folds, or more than 10 repeats
 */
export function parseCrossValidation(text: string): CrossValidationOptions {
  const match = /^(\d+)(?:x(\d+))?$/.exec(text.trim());
  const options = match ? { folds: Number(match[1]), repeats: Number(match[2] ?? 1) } : null;
  if (!options) throw badOption(`--cv takes k or k x repeats, such as 5 or 5x5 (got "${text}").`);
  checkCrossValidation(options);
  return options;
}

export function checkCrossValidation({ folds, repeats = 1 }: CrossValidationOptions): void {
  if (!Number.isInteger(folds) || folds < 2 || folds > 20 || !Number.isInteger(repeats) || repeats < 1 || repeats > 10) {
    throw badOption('Cross-validation needs 2 to 20 folds and 1 to 10 repeats.');
  }
}

/**
 * k-fold cross-validation, repeated: each fold is held out once while the
 * network and baseline train on the other folds (15% of them, by group, held
 * out for early stopping, recalibration, the threshold and the conformal
 * quantile); every metric is reported as mean and spread across folds, at
 * the decision threshold each fold chose.
 * @param groups per usable row, its group (patient) or a key of its own
 * @param strata per usable row, its stratum (class or target quintile)
 */
export async function crossValidate(
  options: CrossValidationOptions,
  target: EvaluationTarget,
  groups: readonly string[],
  strata: readonly number[],
  groupedBy: string | null,
  seed: number,
  fitFold: FitFold,
  baselineDescription: string,
): Promise<CrossValidationResult> {
  checkCrossValidation(options);
  const repeats = options.repeats ?? 1;
  const values = new Map<string, { model: number[]; baseline: number[] }>(reported[target.kind].map((name) => [name, { model: [], baseline: [] }]));
  for (let repeat = 0; repeat < repeats; repeat++) {
    const foldOf = assignFolds(groups, strata, options.folds, seed + 7919 * (repeat + 1));
    for (let fold = 0; fold < options.folds; fold++) {
      const test = foldOf.flatMap((f, row) => (f === fold ? [row] : []));
      const rest = foldOf.flatMap((f, row) => (f === fold ? [] : [row]));
      const [validation, train] = allocateGroups(pick(groups, rest), pick(strata, rest), [validationShare], seed + repeat * 100 + fold);
      const split = { train: train!.map((k) => rest[k]!), validation: validation!.map((k) => rest[k]!), test };
      const outputs = await fitFold(split, { repeat, fold });
      // The fold's decision threshold, chosen by the rule on its own validation rows, for the model and its baseline alike.
      const foldTarget = outputs.threshold === undefined ? target : { ...target, threshold: outputs.threshold };
      const model: Record<string, number | null> = {
        ...(computeMetrics(foldTarget, outputs.actual, outputs.model) as unknown as Record<string, number | null>),
        ...calibrationFigures(target.kind, outputs),
        coverage: outputs.coverage ?? null,
      };
      const baseline = computeMetrics(foldTarget, outputs.actual, outputs.baseline) as unknown as Record<string, number | null>;
      for (const [name, lists] of values) {
        if (typeof model[name] === 'number' && Number.isFinite(model[name])) lists.model.push(model[name]!);
        if (typeof baseline[name] === 'number' && Number.isFinite(baseline[name])) lists.baseline.push(baseline[name]!);
      }
    }
  }
  const metrics = Object.fromEntries([...values].map(([name, lists]) => [name, { model: spread(lists.model), baseline: spread(lists.baseline) }]));
  const design = `${options.folds}-fold cross-validation${repeats > 1 ? `, repeated ${repeats} times` : ''}${groupedBy ? `, folds by ${groupedBy} (one group's rows never on both sides)` : ''}`;
  return {
    folds: options.folds,
    repeats,
    groupedBy,
    metrics,
    procedure: `${design}, stratified; in each fold the network and its baseline train on the other folds (15% of them held out for early stopping and, for the network, recalibration, the decision threshold when a rule chooses it, and the conformal quantile; when those are under ${crossFitBelowRows} rows, a dense or recurrent network's quantile is fitted instead on every row of the training folds, each under a network cross-fitted without it in 5 inner folds) and are scored on the held-out fold (coverage: the share of its rows whose conformal set or interval holds the truth; eceChance: the ECE a perfectly calibrated model would show on the fold's rows by chance; eceSweep: the monotonic-sweep estimate of the same calibration error, less biased on few rows, with its own chance level eceSweepChance; the ECE target is judged on ece, the binned figure). The stored model is trained once more on the usual training/validation/test split, whose test figures are reported beside these.`,
    statement: statementOf(reported[target.kind][0]!, metrics[reported[target.kind][0]!]!, design, baselineDescription),
  };
}

/** A classifier fold's chance level of the binned ECE, and the sweep estimate (ECE_sweep) with its own chance level. */
function calibrationFigures(kind: EvaluationTarget['kind'], outputs: FoldOutputs): Record<string, number | null> {
  if (kind === 'regression') return {};
  const { outcomes, probabilities } = calibrationEvents(kind, outputs.actual, outputs.model);
  return { eceChance: chanceCalibrationError(probabilities), eceSweep: eceSweep(outcomes, probabilities), eceSweepChance: chanceCalibrationError(probabilities, eceSweep) };
}

function pick<T>(values: readonly T[], positions: readonly number[]): T[] {
  return positions.map((position) => values[position]!);
}

function spread(values: number[]): FoldSpread | null {
  if (values.length === 0) return null;
  const average = mean(values);
  const sd = values.length > 1 ? Math.sqrt((standardDeviation(values) ** 2 * values.length) / (values.length - 1)) : 0;
  let min = values[0]!;
  let max = values[0]!;
  for (const value of values) {
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  return { mean: average, sd, min, max, folds: values.length };
}

const names: Record<string, string> = { auroc: 'AUROC', accuracy: 'accuracy', r2: 'R²' };

/** What a calibration figure across folds is, said beside it. */
const calibrationNotes: Record<string, string> = {
  ece: 'binned ECE, 10 equal-width bins: the ECE target (at most 0.03) is judged on this figure',
  eceChance: 'the binned ECE a perfectly calibrated model would show on the same rows by chance',
  eceSweep: 'monotonic-sweep ECE (Roelofs et al. 2022), less biased upwards on few rows; shown beside, not judged',
  eceSweepChance: 'the sweep ECE a perfectly calibrated model would show on the same rows by chance',
};

/**
 * Each metric's mean ± SD (range) across folds, for the model and its
 * baseline, one line each, the calibration figures named (the command line's report).
 */
export function foldSpreadLines(result: CrossValidationResult): string[] {
  const shown = (value: FoldSpread) => `${value.mean.toFixed(4)} ± ${value.sd.toFixed(4)} (${value.min.toFixed(3)} to ${value.max.toFixed(3)}, ${value.folds} folds)`;
  return Object.entries(result.metrics).flatMap(([metric, { model, baseline }]) =>
    model ? [`${metric}: ${shown(model)}${baseline ? `; baseline ${shown(baseline)}` : ''}${calibrationNotes[metric] ? ` [${calibrationNotes[metric]}]` : ''}`] : [],
  );
}

function statementOf(metric: string, figures: { model: FoldSpread | null; baseline: FoldSpread | null }, design: string, baselineDescription: string): string {
  const shown = (value: FoldSpread | null) => (value ? `${value.mean.toFixed(3)} ± ${value.sd.toFixed(3)} (SD over ${value.folds} folds)` : 'not estimable');
  return `${design}: ${names[metric] ?? metric} ${shown(figures.model)} for the model, ${shown(figures.baseline)} for its baseline (${baselineDescription}).`;
}
