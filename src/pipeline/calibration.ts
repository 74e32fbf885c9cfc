/*
 * Recalibration of a classifier's probabilities on the validation split.
 * The candidates: none (the network as trained), temperature scaling
 * (softmax(z / T), for two classes sigmoid(z / T)), Platt scaling (binary:
 * p' = sigmoid(a z + b) of the network's logit z) and isotonic regression
 * (binary, only with enough validation rows: it has a step per block of rows
 * and overfits small splits). The one with the lowest log-loss on held-out
 * validation rows (5-fold cross-fitting within the validation split) is
 * chosen, so that a more flexible map must earn its place on rows it was not
 * fitted on; the test split plays no part. The chosen map becomes part of the
 * network (temperature and Platt folded into the output layer's weights,
 * isotonic as two layers after it), so the saved network itself gives
 * calibrated probabilities: serving, explanations and conformal sets all see them.
 */
import { argmax, calibrationBins, expectedCalibrationError } from './metrics.ts';

/** A calibration error estimated from outcomes (1 when the event happened) and the predicted probabilities of the event. */
export type CalibrationErrorEstimator = (outcomes: readonly number[], probabilities: readonly number[]) => number;

const binnedEce: CalibrationErrorEstimator = (outcomes, probabilities) => expectedCalibrationError(calibrationBins(outcomes, probabilities));
import { createRandom } from './random.ts';
import { mean, standardDeviation } from './stats.ts';
import { tf } from './tensorflow.ts';

/** Isotonic knots: the calibrated probability at each network probability, linear in between and constant beyond the ends. */
export interface IsotonicKnots {
  probability: number[];
  calibrated: number[];
}

export type CalibrationParameters =
  | { method: 'none' }
  | { method: 'platt'; a: number; b: number }
  | { method: 'temperature'; temperature: number }
  | { method: 'isotonic'; knots: IsotonicKnots };

/**
 * Isotonic regression is chosen over Platt scaling only when the validation
 * split has at least this many rows, and this many of each class: below that
 * its steps follow the noise of a few rows (Niculescu-Mizil and Caruana 2005
 * saw it overfit under about 1,000 calibration rows).
 */
export const isotonicMinimum = { rows: 1000, perClass: 50 };

/** Knots closer than this (in probability) are pooled, so that no segment is steep enough to lose float32 precision. */
const minimumKnotGap = 1e-3;

export type CalibrationMethod = CalibrationParameters['method'];

/** A candidate map and its mean log-loss on validation rows it was not fitted on. */
export interface CalibrationCandidate {
  method: CalibrationMethod;
  logLoss: number;
}

/**
 * What was fitted, on how many rows, how it was chosen, and the test split's
 * calibration error before and after. `candidates` and `ece.chance` are absent
 * from versions trained before the choice by cross-fitted log-loss (always
 * Platt or isotonic for two classes, temperature for more).
 */
export type Calibration = CalibrationParameters & {
  validationRows: number;
  candidates?: CalibrationCandidate[];
  ece: {
    before: number;
    after: number;
    /** The ECE a perfectly calibrated model would show on these test rows by chance alone (mean over labels drawn from its own probabilities). */
    chance?: number;
    /** After recalibration, the monotonic-sweep estimate (ECE_sweep, see eceSweep), less biased on few rows; absent in older versions. */
    sweep?: number;
    /** The sweep estimate a perfectly calibrated model would show on these test rows by chance. */
    sweepChance?: number;
  };
};

/** Folds of the cross-fitting within the validation split that chooses the calibration. */
const crossFitFolds = 5;

const clip = (p: number) => Math.min(1 - 1e-7, Math.max(1e-7, p));

/**
 * Fits Platt scaling by Newton's method on the log-loss of the validation rows.
 * @param probabilities the network's probability of the positive class
 * @param labels 1 for the positive class
 */
export function fitPlatt(probabilities: readonly number[], labels: readonly number[]): CalibrationParameters {
  const z = probabilities.map((p) => Math.log(clip(p) / (1 - clip(p))));
  let a = 1;
  let b = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    // Gradient and Hessian of the mean log-loss in (a, b), with a tiny ridge for separable data.
    let ga = 1e-4 * (a - 1);
    let gb = 0;
    let haa = 1e-4;
    let hab = 0;
    let hbb = 1e-9;
    z.forEach((zi, i) => {
      const p = 1 / (1 + Math.exp(-(a * zi + b)));
      const residual = p - labels[i]!;
      const weight = p * (1 - p);
      ga += (residual * zi) / z.length;
      gb += residual / z.length;
      haa += (weight * zi * zi) / z.length;
      hab += (weight * zi) / z.length;
      hbb += weight / z.length;
    });
    const determinant = haa * hbb - hab * hab;
    if (!(determinant > 0)) break;
    const stepA = (hbb * ga - hab * gb) / determinant;
    const stepB = (haa * gb - hab * ga) / determinant;
    a -= stepA;
    b -= stepB;
    if (Math.abs(stepA) + Math.abs(stepB) < 1e-10) break;
  }
  return { method: 'platt', a, b };
}

/** Whether the validation split is large enough, in rows and in each class, for isotonic regression to be a candidate. */
export function isotonicAllowed(labels: readonly number[]): boolean {
  const positives = labels.reduce((sum, label) => sum + label, 0);
  return labels.length >= isotonicMinimum.rows && Math.min(positives, labels.length - positives) >= isotonicMinimum.perClass;
}

/** A way to fit one calibration map, and to apply it to a row of class probabilities. */
interface CandidateFitter {
  method: CalibrationMethod;
  fit(probabilities: readonly number[][], classes: readonly number[]): CalibrationParameters;
}

const binaryFitters: CandidateFitter[] = [
  { method: 'none', fit: () => ({ method: 'none' }) },
  { method: 'temperature', fit: fitTemperature },
  { method: 'platt', fit: (rows, classes) => fitPlatt(rows.map((row) => row[1]!), classes) },
  { method: 'isotonic', fit: (rows, classes) => fitIsotonic(rows.map((row) => row[1]!), classes) },
];

/**
 * Chooses and fits the recalibration of a classifier: each candidate (none,
 * temperature; for two classes also Platt, and isotonic with enough rows) is
 * fitted on four fifths of the validation rows and scored by log-loss on the
 * fifth left out, over 5 folds (stratified, deterministic). The simplest
 * candidate whose held-out log-loss is within one standard error (of its
 * per-row difference) of the lowest is refitted on all validation rows: a
 * more flexible map must beat the simpler ones by more than noise.
 * @param probabilities per validation row, the network's class probabilities (two classes: [1 - p, p])
 * @param classes per validation row, the true class index
 * @returns the fitted map, every candidate's held-out log-loss, and per row its class probabilities under
 *   the chosen map fitted on the other folds (what the conformal quantile is fitted on, so that no row
 *   scores under a map fitted on itself)
 */
export function chooseCalibration(
  probabilities: readonly number[][],
  classes: readonly number[],
): { parameters: CalibrationParameters; candidates: CalibrationCandidate[]; heldOut: number[][] } {
  const binary = probabilities[0]!.length === 2;
  const fitters = binary ? binaryFitters.filter((fitter) => fitter.method !== 'isotonic' || isotonicAllowed(classes)) : binaryFitters.slice(0, 2);
  const crossFitted = fitters.map((fitter) => crossFit(fitter, probabilities, classes));
  const losses = crossFitted.map(({ heldOut }) => heldOut.map((row, i) => -Math.log(clip(row[classes[i]!]!))));
  const candidates = fitters.map((fitter, k) => ({ method: fitter.method, logLoss: mean(losses[k]!) }));
  const lowest = candidates.reduce((best, candidate, k) => (candidate.logLoss < candidates[best]!.logLoss ? k : best), 0);
  const chosen = fitters.findIndex((_, k) => {
    const differences = losses[k]!.map((loss, row) => loss - losses[lowest]![row]!);
    return mean(differences) <= standardDeviation(differences) / Math.sqrt(differences.length);
  });
  return { parameters: fitters[chosen]!.fit(probabilities, classes), candidates, heldOut: crossFitted[chosen]!.heldOut };
}

/** Per row, its class probabilities under the candidate fitted on the other folds. */
function crossFit(fitter: CandidateFitter, probabilities: readonly number[][], classes: readonly number[]): { heldOut: number[][] } {
  const foldOf = stratifiedFolds(classes, crossFitFolds);
  const heldOut: number[][] = probabilities.map((row) => [...row]);
  for (let fold = 0; fold < crossFitFolds; fold++) {
    const [held, kept] = partition(foldOf, fold);
    if (held.length === 0) continue;
    const parameters = fitter.fit(pick(probabilities, kept), pick(classes, kept));
    for (const row of held) heldOut[row] = applyCalibration(parameters, probabilities[row]!);
  }
  return { heldOut };
}

/** Per row its fold: the rows of each class are dealt to the folds in turn, in the order given. */
function stratifiedFolds(classes: readonly number[], folds: number): number[] {
  const dealt = new Map<number, number>();
  return classes.map((label) => {
    const seen = dealt.get(label) ?? 0;
    dealt.set(label, seen + 1);
    return seen % folds;
  });
}

function partition(foldOf: readonly number[], fold: number): [number[], number[]] {
  const held: number[] = [];
  const kept: number[] = [];
  foldOf.forEach((f, row) => (f === fold ? held : kept).push(row));
  return [held, kept];
}

function pick<T>(values: readonly T[], rows: readonly number[]): T[] {
  return rows.map((row) => values[row]!);
}

/**
 * A calibration map applied to one row of class probabilities, as the folded network computes it.
 * @param row the network's class probabilities (two classes: [1 - p, p])
 */
export function applyCalibration(parameters: CalibrationParameters, row: readonly number[]): number[] {
  if (parameters.method === 'none') return [...row];
  if (parameters.method === 'temperature') return softmax(row.map((p) => Math.log(clip(p)) / parameters.temperature));
  const p = clip(row[1]!);
  const calibrated = parameters.method === 'platt' ? 1 / (1 + Math.exp(-(parameters.a * Math.log(p / (1 - p)) + parameters.b))) : applyIsotonic(parameters.knots, p);
  return [1 - calibrated, calibrated];
}

function softmax(logits: readonly number[]): number[] {
  const top = Math.max(...logits);
  const exp = logits.map((z) => Math.exp(z - top));
  const sum = exp.reduce((total, value) => total + value, 0);
  return exp.map((value) => value / sum);
}

/** Draws of labels from the model's own probabilities when estimating the ECE of chance, for a test split of this many rows. */
const chanceDraws = (rows: number) => Math.max(20, Math.min(200, Math.round(2e6 / Math.max(1, rows))));

/**
 * The expected calibration error a perfectly calibrated model would show on
 * these rows by sampling noise alone: labels are drawn from the predicted
 * probabilities themselves (seeded) and the ECE of each draw averaged. With
 * few rows this is far from 0, and an observed ECE near it is noise.
 * @param probabilities per row, the predicted probability of the event the ECE bins (binary: the positive class; multiclass: the top class being right)
 */
export function chanceCalibrationError(probabilities: readonly number[], estimator: CalibrationErrorEstimator = binnedEce): number {
  const random = createRandom(probabilities.length);
  const draws = chanceDraws(probabilities.length);
  let total = 0;
  for (let draw = 0; draw < draws; draw++) {
    const outcomes = probabilities.map((p) => (random.next() < p ? 1 : 0));
    total += estimator(outcomes, probabilities);
  }
  return total / draws;
}

/**
 * The event whose probability the ECE bins: the positive class (binary), or
 * the top class being right (several classes).
 * @param actual per row, the true class index
 * @param outputs binary rows [p(positive)], multiclass rows of class probabilities
 */
export function calibrationEvents(objective: 'binary' | 'multiclass', actual: readonly number[], outputs: readonly number[][]): { outcomes: number[]; probabilities: number[] } {
  if (objective === 'binary') return { outcomes: [...actual], probabilities: outputs.map((row) => row[0]!) };
  return { outcomes: outputs.map((row, i) => (argmax(row) === actual[i] ? 1 : 0)), probabilities: outputs.map((row) => Math.max(...row)) };
}

/**
 * Isotonic regression by pool-adjacent-violators: the non-decreasing step
 * function of the network's probability closest to the labels in squared
 * error; each pooled block becomes a knot at its mean probability, knots
 * closer than 0.001 are pooled, and the ends are kept 0.5 / rows away from 0 and 1.
 * @param probabilities the network's probability of the positive class
 * @param labels 1 for the positive class
 */
export function fitIsotonic(probabilities: readonly number[], labels: readonly number[]): { method: 'isotonic'; knots: IsotonicKnots } {
  const order = Array.from(probabilities.keys()).sort((i, j) => probabilities[i]! - probabilities[j]!);
  const blocks: { x: number; y: number; n: number }[] = [];
  const pool = (into: { x: number; y: number; n: number }, from: { x: number; y: number; n: number }) => {
    into.x += from.x;
    into.y += from.y;
    into.n += from.n;
  };
  const meanY = (block: { y: number; n: number }) => block.y / block.n;
  for (const i of order) {
    blocks.push({ x: probabilities[i]!, y: labels[i]!, n: 1 });
    while (blocks.length > 1 && meanY(blocks[blocks.length - 2]!) >= meanY(blocks[blocks.length - 1]!)) pool(blocks[blocks.length - 2]!, blocks.pop()!);
  }
  // Pooling neighbours of an increasing sequence keeps it increasing.
  const knots: { x: number; y: number; n: number }[] = [];
  for (const block of blocks) {
    const last = knots[knots.length - 1];
    if (last && block.x / block.n - last.x / last.n < minimumKnotGap) pool(last, block);
    else knots.push({ ...block });
  }
  const floor = 0.5 / labels.length;
  return {
    method: 'isotonic',
    knots: {
      probability: knots.map((knot) => knot.x / knot.n),
      calibrated: knots.map((knot) => Math.min(1 - floor, Math.max(floor, meanY(knot)))),
    },
  };
}

/** The isotonic map at one probability (what the appended layers compute). */
export function applyIsotonic(knots: IsotonicKnots, p: number): number {
  const { probability: x, calibrated: y } = knots;
  if (p <= x[0]!) return y[0]!;
  for (let k = 1; k < x.length; k++) {
    if (p <= x[k]!) return y[k - 1]! + ((y[k]! - y[k - 1]!) * (p - x[k - 1]!)) / (x[k]! - x[k - 1]!);
  }
  return y[y.length - 1]!;
}

/**
 * Fits the temperature minimizing the validation log-loss (golden-section search on log T).
 * @param probabilities per row, the network's class probabilities
 * @param classes per row, the true class index
 */
export function fitTemperature(probabilities: readonly number[][], classes: readonly number[]): CalibrationParameters {
  const logits = probabilities.map((row) => row.map((p) => Math.log(clip(p))));
  const loss = (temperature: number) => {
    let total = 0;
    logits.forEach((row, i) => {
      const scaled = row.map((z) => z / temperature);
      const top = Math.max(...scaled);
      const normalizer = Math.log(scaled.reduce((sum, z) => sum + Math.exp(z - top), 0)) + top;
      total += normalizer - scaled[classes[i]!]!;
    });
    return total / logits.length;
  };
  let low = Math.log(0.05);
  let high = Math.log(20);
  const ratio = (Math.sqrt(5) - 1) / 2;
  for (let iteration = 0; iteration < 60; iteration++) {
    const left = high - ratio * (high - low);
    const right = low + ratio * (high - low);
    if (loss(Math.exp(left)) <= loss(Math.exp(right))) high = right;
    else low = left;
  }
  return { method: 'temperature', temperature: Math.exp((low + high) / 2) };
}

/**
 * Folds the calibration into the network: Platt w' = a w, c' = a c + b and
 * temperature w' = w / T, c' = c / T in the output layer (for a sigmoid
 * output that is sigmoid(z / T), the two-class softmax's temperature); isotonic as two
 * layers after the output, a ReLU hinge pair per segment between knots
 * (relu(p - x_k) - relu(p - x_k+1), weighted by the segment's slope), so that
 * the map stays piecewise linear, monotone and differentiable for explanations.
 * @param model a network whose last Dense layer has a sigmoid or softmax activation after it
 */
export function foldCalibration(model: tf.Sequential, parameters: CalibrationParameters): void {
  if (parameters.method === 'none') return;
  if (parameters.method === 'isotonic') {
    appendIsotonic(model, parameters.knots);
    return;
  }
  const output = model.layers.filter((layer) => layer.getClassName() === 'Dense').pop()!;
  const [kernel, bias] = output.getWeights();
  const folded = tf.tidy(() =>
    parameters.method === 'platt'
      ? [tf.mul(kernel!, parameters.a), tf.add(tf.mul(bias!, parameters.a), parameters.b)]
      : [tf.div(kernel!, parameters.temperature), tf.div(bias!, parameters.temperature)],
  );
  output.setWeights(folded);
  folded.forEach((tensor) => tensor.dispose());
}

function appendIsotonic(model: tf.Sequential, knots: IsotonicKnots): void {
  const { probability: x, calibrated: y } = knots;
  const segments = x.length - 1;
  const hinges = tf.layers.dense({ units: 2 * segments, activation: 'relu', name: 'isotonic_hinges' });
  const sum = tf.layers.dense({ units: 1, activation: 'linear', name: 'isotonic_calibration' });
  model.add(hinges);
  model.add(sum);
  const slopes = Array.from({ length: segments }, (_, k) => (y[k + 1]! - y[k]!) / (x[k + 1]! - x[k]!));
  const weights = [
    tf.ones([1, 2 * segments]),
    tf.tensor1d(slopes.flatMap((_, k) => [-x[k]!, -x[k + 1]!])),
    tf.tensor2d(slopes.flatMap((slope) => [slope, -slope]), [2 * segments, 1]),
    tf.tensor1d([y[0]!]),
  ];
  hinges.setWeights(weights.slice(0, 2));
  sum.setWeights(weights.slice(2));
  tf.dispose(weights);
  // Sequential.add leaves the model it built for predict as it was; build it again with the new layers.
  model.build();
}

const methodNames: Record<CalibrationMethod, string> = { none: 'none', temperature: 'temperature scaling', platt: 'Platt scaling', isotonic: 'isotonic regression' };

/**
 * The calibration in words, for the card and the CLI.
 * @param eceInterval the bootstrap interval of the test ECE after recalibration, when the evaluation has one
 */
export function describeCalibration(calibration: Calibration, eceInterval?: { lower: number; upper: number } | null): string {
  const fitted =
    calibration.method === 'none'
      ? 'Probabilities kept as the network gives them'
      : calibration.method === 'platt'
        ? `Probabilities recalibrated by Platt scaling (p = sigmoid(${calibration.a.toPrecision(4)} z + ${calibration.b.toPrecision(4)}) of the network's logit z)`
        : calibration.method === 'isotonic'
          ? `Probabilities recalibrated by isotonic regression (pool-adjacent-violators, ${calibration.knots.probability.length} knots, linear in between, appended to the network as two layers)`
          : `Probabilities recalibrated by temperature scaling (T = ${calibration.temperature.toPrecision(4)})`;
  const rule = calibration.candidates
    ? `chosen among ${calibration.candidates.map((candidate) => `${methodNames[candidate.method]} ${candidate.logLoss.toFixed(4)}`).join(', ')} (log-loss on held-out validation rows, ${crossFitFolds}-fold cross-fitting; the simplest within one standard error of the lowest; isotonic regression is a candidate only with at least ${isotonicMinimum.rows} validation rows and ${isotonicMinimum.perClass} of each class)`
    : 'by the rule of its time (Platt scaling, or isotonic regression with enough rows, for two classes; temperature scaling for more)';
  const interval = eceInterval ? ` (95% CI ${eceInterval.lower.toFixed(3)} to ${eceInterval.upper.toFixed(3)})` : '';
  const chance =
    calibration.ece.chance === undefined
      ? ''
      : ` A perfectly calibrated model would show an ECE of about ${calibration.ece.chance.toFixed(3)} on these test rows by chance alone (labels drawn from its own probabilities).`;
  const where = calibration.method === 'none' ? `on the ${calibration.validationRows} validation rows` : `fitted on the ${calibration.validationRows} validation rows and made part of the saved network`;
  const binned = `Expected calibration error (ECE, 10 equal-width bins) on the test split: ${calibration.ece.before.toFixed(3)} before, ${calibration.ece.after.toFixed(3)} after${interval}.${chance}`;
  return `${fitted}, ${rule}, ${where}. ${binned}${describeSweep(calibration.ece)} ${eceVerdict(calibration.ece.after, eceInterval ?? null, calibration.ece.chance)}`;
}

/** The sweep estimate beside the binned ECE, and why the verdict is not on it. */
function describeSweep({ sweep, sweepChance }: Calibration['ece']): string {
  if (sweep === undefined) return '';
  const chance = sweepChance === undefined ? '' : ` (chance level ${sweepChance.toFixed(3)})`;
  return ` Beside it, the monotonic-sweep estimate (ECE_sweep: equal-mass bins, as many as keep the observed rates rising; Roelofs et al. 2022), less biased upwards on few rows: ${sweep.toFixed(3)} after${chance}. The target's verdict uses the binned ECE, the measure the target was set in; the sweep figure shows how much of it may be the binning's noise.`;
}

/** Issue 15's target for the calibration error after recalibration. */
export const eceTarget = 0.03;

/** Whether the ECE meets its target, said plainly with what the interval and the chance level allow. */
function eceVerdict(ece: number, interval: { lower: number; upper: number } | null, chance: number | undefined): string {
  const target = `The target, an ECE of at most ${eceTarget}`;
  // Above the target by chance alone, a perfectly calibrated model could not show it on these rows.
  const unshowable = chance !== undefined && chance > eceTarget ? `; a perfectly calibrated model would show ${chance.toFixed(3)} here, so these test rows cannot show it either way` : '';
  if (ece <= eceTarget) return interval && interval.upper > eceTarget ? `${target}, is met by the estimate, though its interval reaches beyond${unshowable}.` : `${target}, is met.`;
  return interval && interval.lower <= eceTarget ? `${target}, is not met by the estimate, though its interval reaches it${unshowable}.` : `${target}, is not met${unshowable}.`;
}
