import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildNetwork } from '../../src/pipeline/architectures.ts';
import { fitPlatt, fitTemperature, foldCalibration } from '../../src/pipeline/calibration.ts';
import { createRandom } from '../../src/pipeline/random.ts';
import { initTensorflow, tf } from '../../src/pipeline/tensorflow.ts';

before(async () => {
  await initTensorflow();
});

describe('recalibration on the validation split', () => {
  const random = createRandom(11);
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

  it('Platt scaling recovers the distortion of over-confident probabilities', () => {
    // The true probability is sigmoid(z / 2): a network reporting sigmoid(z) is over-confident by a factor of 2.
    const z = Array.from({ length: 4000 }, () => (random.next() - 0.5) * 8);
    const labels = z.map((value) => (random.next() < sigmoid(value / 2) ? 1 : 0));
    const fitted = fitPlatt(z.map(sigmoid), labels);
    assert.equal(fitted.method, 'platt');
    if (fitted.method !== 'platt') return;
    assert.ok(Math.abs(fitted.a - 0.5) < 0.08 && Math.abs(fitted.b) < 0.1, JSON.stringify(fitted));
  });

  it('temperature scaling recovers the temperature of softmax outputs', () => {
    const softmax = (row: number[]) => {
      const exp = row.map(Math.exp);
      const sum = exp.reduce((a, b) => a + b, 0);
      return exp.map((e) => e / sum);
    };
    const logits = Array.from({ length: 3000 }, () => [0, 1, 2].map(() => (random.next() - 0.5) * 6));
    const classes = logits.map((row) => {
      const p = softmax(row.map((z) => z / 2));
      const u = random.next();
      return u < p[0]! ? 0 : u < p[0]! + p[1]! ? 1 : 2;
    });
    const fitted = fitTemperature(logits.map(softmax), classes);
    if (fitted.method !== 'temperature') throw new Error('temperature expected');
    assert.ok(Math.abs(fitted.temperature - 2) < 0.25, String(fitted.temperature));
  });

  it('folds Platt scaling into the output layer: the network then outputs sigmoid(a z + b)', () => {
    const model = buildNetwork({ kind: 'dense', hiddenUnits: [4], dropout: 0 }, { inputSize: 3, outputUnits: 1, outputActivation: 'sigmoid' }, 2);
    const x = tf.tensor2d([[0.3, -1, 2], [1, 0.5, -0.2]]);
    const before = Array.from((model.predict(x) as tf.Tensor).dataSync());
    foldCalibration(model, { method: 'platt', a: 0.5, b: 0.25 });
    const after = Array.from((model.predict(x) as tf.Tensor).dataSync());
    before.forEach((p, i) => assert.ok(Math.abs(after[i]! - sigmoid(0.5 * Math.log(p / (1 - p)) + 0.25)) < 1e-5));
    x.dispose();
    model.dispose();
  });
});
