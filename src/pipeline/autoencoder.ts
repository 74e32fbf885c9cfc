/*
 * An autoencoder per tabular model version, fitted on its training inputs:
 * an input the autoencoder reconstructs badly (error above the training rows'
 * 99th percentile) is unlike the training data, whatever the per-feature range
 * checks say (each value can be usual while the combination is not). Small
 * enough to keep as plain numbers in the version and to run in JavaScript.
 */
import type { Matrix } from './matrix.ts';
import { createRandom, shuffled } from './random.ts';
import { ascending, quantileSorted } from './stats.ts';
import { tf } from './tensorflow.ts';

/** Weights (row-major) of x -> relu(x W1 + b1) -> h W2 + b2, and the flagging threshold. JSON-serializable. */
export interface Autoencoder {
  inputs: number;
  hidden: number;
  w1: number[];
  b1: number[];
  w2: number[];
  b2: number[];
  /** The training rows' 99th percentile of the reconstruction error (mean squared, standardized units). */
  threshold: number;
  /** Test-split rows whose error exceeds the threshold. */
  test: { rows: number; flagged: number } | null;
}

const epochs = 40;
const batchSize = 64;
/** At most this many training rows fit the autoencoder (a sample of larger sets). */
const maxRows = 20_000;
/** At most this many Adam steps in all: larger sets take larger batches (each step costs about the same, whatever its size). */
const maxSteps = 2000;

/**
 * Fits the autoencoder on the encoded training rows (Adam, seeded), then sets
 * its threshold at the 99th percentile of their reconstruction errors.
 * @param train encoded training inputs
 * @param seed seeds the initial weights, the sample and the shuffling
 */
export async function fitAutoencoder(train: Matrix, seed: number): Promise<Autoencoder> {
  const random = createRandom(seed);
  const d = train.columns;
  const hidden = Math.max(2, Math.min(16, Math.ceil(d / 2)));
  const rows = train.rows > maxRows ? shuffled(Array.from({ length: train.rows }, (_, i) => i), random).slice(0, maxRows) : Array.from({ length: train.rows }, (_, i) => i);
  const x = tf.tensor2d(Float32Array.from(rows.flatMap((r) => Array.from(train.values.subarray(r * d, (r + 1) * d)))), [rows.length, d]);
  const init = (fanIn: number, fanOut: number) => tf.variable(tf.tensor2d(Array.from({ length: fanIn * fanOut }, () => (random.next() * 2 - 1) * Math.sqrt(6 / (fanIn + fanOut))), [fanIn, fanOut]));
  const w1 = init(d, hidden);
  const b1 = tf.variable(tf.zeros([hidden]));
  const w2 = init(hidden, d);
  const b2 = tf.variable(tf.zeros([d]));
  const batch = Math.max(batchSize, Math.ceil((rows.length * epochs) / maxSteps));
  const optimizer = tf.train.adam(0.01);
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffled(Array.from({ length: rows.length }, (_, i) => i), random);
      for (let start = 0; start < order.length; start += batch) {
        tf.tidy(() => {
          const rowsOfStep = tf.gather(x, tf.tensor1d(order.slice(start, start + batch), 'int32'));
          optimizer.minimize(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(rowsOfStep, w1), b1)), w2), b2), rowsOfStep))) as tf.Scalar, false, [w1, b1, w2, b2]);
        });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const autoencoder: Autoencoder = {
      inputs: d,
      hidden,
      w1: Array.from(w1.dataSync()),
      b1: Array.from(b1.dataSync()),
      w2: Array.from(w2.dataSync()),
      b2: Array.from(b2.dataSync()),
      threshold: 0,
      test: null,
    };
    const errors = rows.map((r) => reconstructionError(autoencoder, train.values.subarray(r * d, (r + 1) * d)));
    return { ...autoencoder, threshold: quantileSorted(ascending(errors), 0.99) };
  } finally {
    tf.dispose([x, w1, b1, w2, b2]);
    optimizer.dispose();
  }
}

/**
 * The mean squared difference between an encoded input and its reconstruction.
 * @param row one encoded input (standardized numbers, one-hot levels)
 */
export function reconstructionError(autoencoder: Omit<Autoencoder, 'threshold' | 'test'>, row: ArrayLike<number>): number {
  const { inputs: d, hidden: h, w1, b1, w2, b2 } = autoencoder;
  const code = new Float64Array(h);
  for (let j = 0; j < h; j++) {
    let sum = b1[j]!;
    for (let i = 0; i < d; i++) sum += row[i]! * w1[i * h + j]!;
    code[j] = Math.max(0, sum);
  }
  let error = 0;
  for (let i = 0; i < d; i++) {
    let sum = b2[i]!;
    for (let j = 0; j < h; j++) sum += code[j]! * w2[j * d + i]!;
    error += (sum - row[i]!) ** 2;
  }
  return error / d;
}

/** Counts the test rows the autoencoder flags. */
export function measureAutoencoder(autoencoder: Autoencoder, test: Matrix): Autoencoder {
  let flagged = 0;
  for (let r = 0; r < test.rows; r++) if (reconstructionError(autoencoder, test.values.subarray(r * test.columns, (r + 1) * test.columns)) > autoencoder.threshold) flagged++;
  return { ...autoencoder, test: { rows: test.rows, flagged } };
}

/** One input's out-of-distribution score: its reconstruction error over the training rows' 99th percentile, flagged above 1. */
export interface NoveltyScore {
  score: number;
  flagged: boolean;
}

/** The input's out-of-distribution score, and the warning when it is flagged (else null). */
export function assessNovelty(autoencoder: Autoencoder, row: ArrayLike<number>): NoveltyScore & { warning: string | null } {
  const error = reconstructionError(autoencoder, row);
  const score = error / autoencoder.threshold;
  if (error <= autoencoder.threshold) return { score, flagged: false, warning: null };
  const warning = `the combination of values is unlike the training data: out-of-distribution score ${score.toFixed(2)} (autoencoder reconstruction error ${error.toPrecision(3)} above the training 99th percentile ${autoencoder.threshold.toPrecision(3)})`;
  return { score, flagged: true, warning };
}

/** The autoencoder in words, for the card. */
export function describeAutoencoder(autoencoder: Autoencoder): string {
  const flagged = autoencoder.test ? ` It flags ${autoencoder.test.flagged} of the ${autoencoder.test.rows} test rows (${((autoencoder.test.flagged / Math.max(autoencoder.test.rows, 1)) * 100).toFixed(1)}%; about 1% is expected of data like the training data).` : '';
  return `Out-of-distribution check: an autoencoder (${autoencoder.inputs} → ${autoencoder.hidden} → ${autoencoder.inputs}) fitted on the training inputs; an input whose reconstruction error exceeds the training rows' 99th percentile (${autoencoder.threshold.toPrecision(3)}) is flagged in its prediction's warnings and explanation, beside the per-feature range checks.${flagged}`;
}
