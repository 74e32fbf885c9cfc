/*
 * Recalibration of a classifier's probabilities on the validation split:
 * Platt scaling (binary: p' = sigmoid(a z + b) of the network's logit z) or
 * temperature scaling (several classes: softmax(z / T)). Both are folded into
 * the output layer's weights, so the saved network itself gives calibrated
 * probabilities: serving, explanations and conformal sets all see them.
 */
import { tf } from './tensorflow.ts';

export type CalibrationParameters = { method: 'platt'; a: number; b: number } | { method: 'temperature'; temperature: number };

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
 * Folds the calibration into the output layer: Platt w' = a w, c' = a c + b;
 * temperature w' = w / T, c' = c / T.
 * @param model a network whose last layer is Dense with a sigmoid or softmax activation
 */
export function foldCalibration(model: tf.Sequential, parameters: CalibrationParameters): void {
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

/** The calibration in words, for the card. */
export function describeCalibration(calibration: Calibration): string {
  const fitted =
    calibration.method === 'platt'
      ? `Platt scaling (p = sigmoid(${calibration.a.toPrecision(4)} z + ${calibration.b.toPrecision(4)}) of the network's logit z)`
      : `temperature scaling (T = ${calibration.temperature.toPrecision(4)})`;
  return `Probabilities recalibrated by ${fitted}, fitted on the ${calibration.validationRows} validation rows and folded into the output layer. Expected calibration error on the test split: ${calibration.ece.before.toFixed(3)} before, ${calibration.ece.after.toFixed(3)} after.`;
}
