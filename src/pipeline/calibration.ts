/*
 * Recalibration of a classifier's probabilities on the validation split:
 * Platt scaling (binary: p' = sigmoid(a z + b) of the network's logit z),
 * isotonic regression (binary, only with enough validation rows: it has a
 * step per block of rows and overfits small splits) or temperature scaling
 * (several classes: softmax(z / T)). Each becomes part of the network (Platt
 * and temperature folded into the output layer's weights, isotonic as two
 * layers after it), so the saved network itself gives calibrated
 * probabilities: serving, explanations and conformal sets all see them.
 */
import { tf } from './tensorflow.ts';

/** Isotonic knots: the calibrated probability at each network probability, linear in between and constant beyond the ends. */
export interface IsotonicKnots {
  probability: number[];
  calibrated: number[];
}

export type CalibrationParameters =
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

/** What was fitted, on how many rows, and the test split's calibration error before and after. */
export type Calibration = CalibrationParameters & { validationRows: number; ece: { before: number; after: number } };

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

/**
 * Binary recalibration by the stated rule: isotonic regression with at least
 * isotonicMinimum rows (and of each class) on the validation split, else Platt scaling.
 * @param probabilities the network's probability of the positive class
 * @param labels 1 for the positive class
 */
export function fitBinaryCalibration(probabilities: readonly number[], labels: readonly number[]): CalibrationParameters {
  const positives = labels.reduce((sum, label) => sum + label, 0);
  const enough = labels.length >= isotonicMinimum.rows && Math.min(positives, labels.length - positives) >= isotonicMinimum.perClass;
  const isotonic = enough ? fitIsotonic(probabilities, labels) : null;
  return isotonic && isotonic.knots.probability.length >= 2 ? isotonic : fitPlatt(probabilities, labels);
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
 * temperature w' = w / T, c' = c / T in the output layer; isotonic as two
 * layers after the output, a ReLU hinge pair per segment between knots
 * (relu(p - x_k) - relu(p - x_k+1), weighted by the segment's slope), so that
 * the map stays piecewise linear, monotone and differentiable for explanations.
 * @param model a network whose last Dense layer has a sigmoid or softmax activation after it
 */
export function foldCalibration(model: tf.Sequential, parameters: CalibrationParameters): void {
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

/** The calibration in words, for the card. */
export function describeCalibration(calibration: Calibration): string {
  const rule = `isotonic regression when the validation split has at least ${isotonicMinimum.rows} rows and ${isotonicMinimum.perClass} of each class, else Platt scaling`;
  const fitted =
    calibration.method === 'platt'
      ? `Platt scaling (p = sigmoid(${calibration.a.toPrecision(4)} z + ${calibration.b.toPrecision(4)}) of the network's logit z; rule: ${rule})`
      : calibration.method === 'isotonic'
        ? `isotonic regression (pool-adjacent-violators, ${calibration.knots.probability.length} knots, linear in between, appended to the network as two layers; rule: ${rule})`
        : `temperature scaling (T = ${calibration.temperature.toPrecision(4)})`;
  return `Probabilities recalibrated by ${fitted}, fitted on the ${calibration.validationRows} validation rows and made part of the saved network. Expected calibration error on the test split: ${calibration.ece.before.toFixed(3)} before, ${calibration.ece.after.toFixed(3)} after.`;
}
