import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildNetwork } from '../../src/pipeline/architectures.ts';
import { loadModelArtifact, saveModelArtifact } from '../../src/pipeline/artifact.ts';
import { applyIsotonic, fitBinaryCalibration, fitIsotonic, fitPlatt, fitTemperature, foldCalibration, isotonicMinimum } from '../../src/pipeline/calibration.ts';
import { buildModelCard, renderModelCardMarkdown } from '../../src/pipeline/card.ts';
import { calibrationBins, expectedCalibrationError } from '../../src/pipeline/metrics.ts';
import { trainModel } from '../../src/pipeline/pipeline.ts';
import { createRandom } from '../../src/pipeline/random.ts';
import { initTensorflow, tf } from '../../src/pipeline/tensorflow.ts';
import { placeholderCardText } from '../../src/models/stored-version.ts';

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

describe('isotonic recalibration, only with enough validation rows', () => {
  const random = createRandom(5);
  // The true probability is p^3 of the reported p: a distortion no sigmoid of the logit follows.
  const sample = (rows: number, positiveShare = 1) => {
    const p = Array.from({ length: rows }, () => random.next());
    return { p, labels: p.map((value) => (random.next() < value ** 3 * positiveShare ? 1 : 0)) };
  };
  const ece = (labels: number[], probabilities: number[]) => expectedCalibrationError(calibrationBins(labels, probabilities));

  it(`takes isotonic regression from ${isotonicMinimum.rows} validation rows with ${isotonicMinimum.perClass} of each class, Platt scaling below`, () => {
    const enough = sample(isotonicMinimum.rows);
    assert.equal(fitBinaryCalibration(enough.p, enough.labels).method, 'isotonic');
    assert.equal(fitBinaryCalibration(enough.p.slice(1), enough.labels.slice(1)).method, 'platt');
    const rare = sample(5000, 0.02);
    assert.ok(rare.labels.filter((label) => label === 1).length < isotonicMinimum.perClass);
    assert.equal(fitBinaryCalibration(rare.p, rare.labels).method, 'platt');
  });

  it('calibrates a distortion Platt scaling cannot follow, monotone and away from 0 and 1', () => {
    const validation = sample(4000);
    const test = sample(20000);
    const isotonic = fitIsotonic(validation.p, validation.labels);
    const platt = fitPlatt(validation.p, validation.labels) as { a: number; b: number };
    const plattOf = (p: number) => 1 / (1 + Math.exp(-(platt.a * Math.log(p / (1 - p)) + platt.b)));
    const isotonicEce = ece(test.labels, test.p.map((p) => applyIsotonic(isotonic.knots, p)));
    const plattEce = ece(test.labels, test.p.map(plattOf));
    assert.ok(isotonicEce < 0.02 && isotonicEce < plattEce, `isotonic ${isotonicEce}, Platt ${plattEce}`);
    const { probability, calibrated } = isotonic.knots;
    for (let k = 1; k < probability.length; k++) {
      assert.ok(probability[k]! - probability[k - 1]! >= 1e-3 && calibrated[k]! >= calibrated[k - 1]!);
    }
    assert.ok(calibrated[0]! > 0 && calibrated[calibrated.length - 1]! < 1);
  });

  it('becomes part of the saved network: its outputs are the isotonic map of the raw ones, with gradients for explanations', async () => {
    const model = buildNetwork({ kind: 'dense', hiddenUnits: [4], dropout: 0 }, { inputSize: 3, outputUnits: 1, outputActivation: 'sigmoid' }, 3);
    const x = tf.tensor2d(Array.from({ length: 60 }, () => [0, 1, 2].map(() => (random.next() - 0.5) * 8)));
    const raw = Array.from((model.predict(x) as tf.Tensor).dataSync());
    const { knots } = fitIsotonic(
      raw,
      raw.map((p) => (random.next() < p ** 2 ? 1 : 0)),
    );
    foldCalibration(model, { method: 'isotonic', knots });
    const inMemory = Array.from((model.predict(x) as tf.Tensor).dataSync());
    raw.forEach((p, i) => assert.ok(Math.abs(inMemory[i]! - applyIsotonic(knots, p)) < 1e-4, `in memory: ${inMemory[i]} against ${applyIsotonic(knots, p)}`));
    const { artifact, weightsSha256 } = await saveModelArtifact(model);
    const saved = await loadModelArtifact(artifact, weightsSha256);
    const served = Array.from((saved.predict(x) as tf.Tensor).dataSync());
    raw.forEach((p, i) => assert.ok(Math.abs(served[i]! - applyIsotonic(knots, p)) < 1e-4, `${served[i]} against ${applyIsotonic(knots, p)}`));
    const gradient = tf.grad((rows: tf.Tensor) => tf.sum(saved.apply(rows) as tf.Tensor))(x);
    assert.ok(Array.from(gradient.dataSync()).some((value) => value !== 0));
    tf.dispose([x, gradient]);
    model.dispose();
    saved.dispose();
  });

  it('is what trainModel chooses on a validation split of over 1,000 rows, with ECE before and after in the card', async () => {
    const rows = Array.from({ length: 2625 }, () => {
      const [a, b] = [random.next() * 4 - 2, random.next() * 4 - 2];
      return { a, b, outcome: random.next() < 1 / (1 + Math.exp(-(2 * a - b))) ? 'yes' : 'no' };
    });
    const result = await trainModel({
      data: { records: rows },
      target: 'outcome',
      task: 'binary',
      positiveClass: 'yes',
      split: { validation: 0.4, test: 0.15 },
      training: { epochs: 5 },
      baselineTraining: { epochs: 5 },
      bootstrap: { resamples: 20 },
    });
    const calibration = result.calibration!;
    assert.ok(result.counts.validation >= isotonicMinimum.rows);
    assert.deepEqual([calibration.method, calibration.validationRows], ['isotonic', result.counts.validation]);
    assert.ok(calibration.ece.after <= 0.05, JSON.stringify(calibration.ece));
    assert.equal((result.evaluation.model.metrics as { ece: number }).ece.toFixed(6), calibration.ece.after.toFixed(6));
    const markdown = renderModelCardMarkdown(buildModelCard(result, placeholderCardText('isotonic', '', 'records')));
    assert.match(markdown, /Probabilities recalibrated by isotonic regression \(pool-adjacent-violators, \d+ knots.*rule: isotonic regression when the validation split has at least 1000 rows and 50 of each class, else Platt scaling\).* Expected calibration error on the test split: 0\.\d{3} before, 0\.\d{3} after\./);
  });
});

