import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildNetwork, type DenseArchitecture, defaultArchitectures } from '../../src/pipeline/architectures.ts';
import { loadModelArtifact, saveModelArtifact } from '../../src/pipeline/artifact.ts';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { buildModelCard, renderModelCardMarkdown } from '../../src/pipeline/card.ts';
import { parseCrossValidation } from '../../src/pipeline/cross-validation.ts';
import { parseFeatureSpec } from '../../src/pipeline/feature-spec.ts';
import { assignFolds } from '../../src/pipeline/preprocess.ts';
import { placeholderCardText } from '../../src/models/stored-version.ts';
import { explainPrediction } from '../../src/pipeline/explain.ts';
import { deserializeTrainingResult, predictWith, serializeTrainingResult, type TrainingResult, trainModel } from '../../src/pipeline/pipeline.ts';
import { matrixFromRows } from '../../src/pipeline/matrix.ts';
import { createRandom } from '../../src/pipeline/random.ts';
import { loadServingModel } from '../../src/pipeline/serving.ts';
import { initTensorflow, tf } from '../../src/pipeline/tensorflow.ts';
import { convolveByMatMul, fitNetwork, type ProgressEvent, progressPhase, type TrainingData } from '../../src/pipeline/train.ts';
import { fixturePath } from './helpers.ts';

/** A learnable toy problem: the class is whether a weighted sum of five features is positive. */
function toyRows(rows: number, seed: number): number[][] {
  const random = createRandom(seed);
  return Array.from({ length: rows }, () => Array.from({ length: 5 }, () => random.next() * 2 - 1));
}

function toyData(rows: number, seed: number): TrainingData {
  const x = toyRows(rows, seed);
  return { x: matrixFromRows(x), y: x.map((row) => (row[0]! - 0.5 * row[1]! + 0.25 * row[2]! > 0 ? 1 : 0)) };
}

const settings = { epochs: 6, batchSize: 16, learningRate: 0.01, patience: 3, l2: 0.001 };
const dense: DenseArchitecture = { kind: 'dense', hiddenUnits: [8, 4], dropout: 0.3 };

async function trainedWeights(seed: number): Promise<number[][]> {
  const model = buildNetwork(dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, seed);
  await fitNetwork(model, toyData(120, 1), toyData(40, 2), { objective: 'binary', classes: 2, settings, seed });
  const weights = model.getWeights().map((tensor) => Array.from(tensor.dataSync()));
  model.dispose();
  return weights;
}

const rawOutputs = (model: tf.LayersModel, x: number[][]) => tf.tidy(() => Array.from((model.predict(tf.tensor2d(x)) as tf.Tensor).dataSync()));

before(async () => {
  await initTensorflow();
});

describe('TensorFlow.js set-up', () => {
  it('chooses a backend once and reports it', async () => {
    const info = await initTensorflow();
    assert.ok(['tensorflow', 'wasm', 'cpu'].includes(info.backend));
    assert.equal(info.backend, tf.getBackend());
    assert.equal(info.tfjsVersion, tf.version.tfjs);
    assert.equal(await initTensorflow(), info);
  });
});

describe('training', () => {
  it('gives identical weights for the same seed, dropout included', async () => {
    const first = await trainedWeights(7);
    assert.deepEqual(await trainedWeights(7), first);
    assert.notDeepEqual(await trainedWeights(8), first);
  });

  it('gives identical weights for the same seed with a convolutional network', async () => {
    const random = createRandom(3);
    const images: TrainingData = { x: matrixFromRows(Array.from({ length: 48 }, () => Array.from({ length: 36 }, () => random.next()))), y: Array.from({ length: 48 }, (_, i) => i % 3) };
    const run = async () => {
      const model = buildNetwork({ kind: 'cnn', filters: [4, 8], kernelSize: 3, denseUnits: 8, dropout: 0.25 }, { inputSize: 36, outputUnits: 3, outputActivation: 'softmax', image: { width: 6, height: 6 } }, 5);
      await fitNetwork(model, images, images, { objective: 'multiclass', classes: 3, settings: { ...settings, epochs: 2 }, seed: 5 });
      const weights = model.getWeights().map((tensor) => Array.from(tensor.dataSync()));
      model.dispose();
      return weights;
    };
    assert.deepEqual(await run(), await run());
  });

  it('learns, stops early on the validation loss and reports every epoch', async () => {
    const events: ProgressEvent[] = [];
    const model = buildNetwork(defaultArchitectures.dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, 1);
    const fit = await fitNetwork(model, toyData(300, 1), toyData(100, 2), {
      objective: 'binary',
      classes: 2,
      settings: { epochs: 200, batchSize: 32, learningRate: 0.01, patience: 5, l2: 0 },
      seed: 1,
      onProgress: (event) => events.push(event),
    });
    model.dispose();
    assert.equal(events.length, fit.epochsRun);
    assert.deepEqual(Object.keys(events[0]!).sort(), ['epoch', 'epochs', 'loss', 'phase', 'valLoss', 'valMetric', 'valMetricName']);
    assert.equal(events[0]!.valMetricName, 'accuracy');
    assert.ok(fit.stoppedEarly && fit.epochsRun === fit.bestEpoch + 5, 'stops `patience` epochs after the best');
    assert.ok(Math.min(...fit.history.map((h) => h.valLoss)) === fit.history[fit.bestEpoch - 1]!.valLoss);
    assert.ok(fit.history[fit.bestEpoch - 1]!.valMetric > 0.9, `validation accuracy ${fit.history[fit.bestEpoch - 1]!.valMetric}`);
  });

  it('with fixed epochs, trains exactly that many and keeps the last weights, whatever the validation loss', async () => {
    const model = buildNetwork(defaultArchitectures.dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, 1);
    // Validation labels flipped: its loss rises as the network learns, so early stopping would stop and restore epoch 1.
    const flipped = toyData(100, 2);
    const fit = await fitNetwork(model, toyData(300, 1), { ...flipped, y: flipped.y.map((y) => 1 - y) }, {
      objective: 'binary',
      classes: 2,
      settings: { epochs: 12, batchSize: 32, learningRate: 0.01, patience: 2, l2: 0 },
      seed: 1,
      fixedEpochs: true,
    });
    const outputs = (await predictWith(model, toyData(100, 2).x)).map((row) => row[0]!);
    model.dispose();
    assert.deepEqual([fit.epochsRun, fit.bestEpoch, fit.stoppedEarly], [12, 12, false]);
    assert.ok(fit.history[11]!.valLoss > fit.history[0]!.valLoss, 'the validation loss rose');
    const accuracy = outputs.filter((p, i) => (p >= 0.5 ? 1 : 0) === flipped.y[i]).length / outputs.length;
    assert.ok(accuracy > 0.9, `the last weights predict the true labels (accuracy ${accuracy})`);
    // Without validation rows (the cross-fitted networks) it trains the same weights, and only with fixed epochs.
    const unvalidated = buildNetwork(defaultArchitectures.dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, 1);
    const settings12 = { epochs: 12, batchSize: 32, learningRate: 0.01, patience: 2, l2: 0 };
    await fitNetwork(unvalidated, toyData(300, 1), null, { objective: 'binary', classes: 2, settings: settings12, seed: 1, fixedEpochs: true });
    assert.deepEqual((await predictWith(unvalidated, toyData(100, 2).x)).map((row) => row[0]!), outputs);
    await assert.rejects(fitNetwork(unvalidated, toyData(300, 1), null, { objective: 'binary', classes: 2, settings: settings12, seed: 1 }), /Early stopping needs validation rows/);
    unvalidated.dispose();
  });

  it('predicts regression targets in their own units', async () => {
    const x = toyRows(200, 4);
    const target = (rows: number[][]) => rows.map((row) => 100 + 30 * row[0]! - 20 * row[1]!);
    const model = buildNetwork(defaultArchitectures.linear, { inputSize: 5, outputUnits: 1, outputActivation: 'linear' }, 1);
    await fitNetwork(model, { x: matrixFromRows(x), y: target(x) }, { x: matrixFromRows(x.slice(0, 50)), y: target(x.slice(0, 50)) }, {
      objective: 'regression',
      classes: 1,
      settings: { epochs: 300, batchSize: 32, learningRate: 0.05, patience: 20, l2: 0 },
      seed: 1,
    });
    const [prediction] = rawOutputs(model, [[0.5, -0.5, 0, 0, 0]]);
    model.dispose();
    assert.ok(Math.abs(prediction! - 125) < 2, `expected about 125, got ${prediction}`);
  });

  it('convolves like tf.conv2d, with gradients on the active backend', () => {
    const random = createRandom(9);
    const values = (n: number) => Array.from({ length: n }, () => random.next() - 0.5);
    for (const [size, channels, filters, kernel] of [
      [8, 1, 4, 3],
      [4, 3, 5, 3],
      [5, 2, 3, 5],
    ] as const) {
      tf.tidy(() => {
        const x = tf.tensor4d(values(2 * size * size * channels), [2, size, size, channels]);
        const k = tf.tensor4d(values(kernel * kernel * channels * filters), [kernel, kernel, channels, filters]);
        const bias = tf.tensor1d(values(filters));
        const expected = tf.add(tf.conv2d(x, k, 1, 'same'), bias).dataSync();
        const actual = convolveByMatMul(x, k, bias).dataSync();
        actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) < 1e-5));
        const gradient = tf.grad((kernelValues: tf.Tensor) => tf.sum(convolveByMatMul(x, kernelValues as tf.Tensor4D, bias)))(k);
        assert.deepEqual(gradient.shape, k.shape);
      });
    }
  });
});

describe('artifacts', () => {
  it('a saved and reloaded network predicts exactly as before', async () => {
    const model = buildNetwork(dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, 3);
    await fitNetwork(model, toyData(100, 1), toyData(30, 2), { objective: 'binary', classes: 2, settings, seed: 3 });
    const { artifact, weightsSha256 } = await saveModelArtifact(model);
    const reloaded = await loadModelArtifact(artifact, weightsSha256);
    const x = toyRows(50, 5);
    assert.deepEqual(rawOutputs(reloaded, x), rawOutputs(model, x));
    assert.match(weightsSha256, /^[0-9a-f]{64}$/);
    model.dispose();
    reloaded.dispose();
  });

  it('regularizes the kernels of a reloaded network, whose weights tfjs renamed beside the same layer names', async () => {
    const model = buildNetwork(dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, 3);
    const { artifact } = await saveModelArtifact(model);
    const kernelNorm = async (l2: number) => {
      const reloaded = (await loadModelArtifact(artifact)) as tf.Sequential;
      assert.ok(reloaded.trainableWeights.some((weight) => weight.name !== weight.originalName), 'the reloaded weights carry renamed variables');
      await fitNetwork(reloaded, toyData(120, 1), toyData(40, 2), { objective: 'binary', classes: 2, settings: { ...settings, l2 }, seed: 3 });
      const norm = reloaded.trainableWeights.filter((weight) => weight.originalName.endsWith('kernel')).reduce((sum, weight) => sum + tf.tidy(() => tf.sum(tf.square(weight.read())).dataSync()[0]!), 0);
      reloaded.dispose();
      return norm;
    };
    assert.ok((await kernelNorm(0.5)) < (await kernelNorm(0)), 'a strong L2 penalty shrinks the kernels');
    model.dispose();
  });

  it('refuses weights that do not match their checksum', async () => {
    const model = buildNetwork(dense, { inputSize: 5, outputUnits: 1, outputActivation: 'sigmoid' }, 3);
    const { artifact, weightsSha256 } = await saveModelArtifact(model);
    model.dispose();
    const tampered = { ...artifact, weightData: artifact.weightData.slice() };
    tampered.weightData[0] = tampered.weightData[0]! ^ 1;
    await assert.rejects(loadModelArtifact(tampered, weightsSha256), (error: unknown) => error instanceof PipelineError && error.code === 'BAD_ARTIFACT');
  });
});

describe('a messy clinical CSV end to end', () => {
  let result: TrainingResult;
  const featureSpec = parseFeatureSpec({ features: { age: { unit: 'years', possibleRange: [0, 120] }, bmi: { unit: 'kg/m2', possibleRange: [10, 80] }, sex: { levels: { F: 'female', M: 'male' } } } });

  before(async () => {
    result = await trainModel({ data: { csvPath: fixturePath('messy-clinical.csv') }, target: 'readmitted', task: 'binary', featureSpec, bootstrap: { resamples: 300 } });
  });

  it('trains, reports data quality and says whether it beats its baseline', () => {
    assert.equal(result.quality.usableRows, 159);
    assert.equal(result.counts.train + result.counts.validation + result.counts.test, 159);
    const { verdict, statement } = result.evaluation.comparison;
    const wording = { beats: /The model beats its baseline/, 'not-clearly-better': /does not clearly beat the baseline/, 'does-not-beat': /does not beat its baseline/ }[verdict];
    assert.match(statement, wording);
    assert.match(statement, /baseline \(logistic regression\) on AUROC/);
    assert.deepEqual(result.evaluation.subgroups.map((s) => `${s.column} ${s.group}`), ['sex F', 'sex M', 'age <40', 'age 40-59', 'age ≥60']);
    assert.equal(result.evaluation.subgroups.filter((s) => s.column === 'sex').reduce((sum, s) => sum + s.n, 0), result.counts.test);
    const auroc = (result.evaluation.model.metrics as { auroc: number }).auroc;
    assert.ok(auroc > 0.6, `the fixture carries signal; AUROC ${auroc}`);
  });

  it('records what a registry needs', () => {
    const age = result.features.find((f) => f.name === 'age')!;
    assert.equal(age.unit, 'years');
    assert.deepEqual(age.possibleRange, { min: 0, max: 120 });
    assert.ok(age.trainingRange!.min >= 25 && age.trainingRange!.max <= 90);
    assert.deepEqual(result.features.find((f) => f.name === 'smoking')!.levels, ['current', 'former', 'never']);
    assert.equal(result.positiveClass, 'yes');
    assert.deepEqual(result.classLabels, ['no', 'yes']);
    assert.equal(result.split.test.length, result.counts.test);
    assert.ok(result.split.test.every((row) => !result.split.train.includes(row)));
    assert.equal(result.training.seed, 42);
    assert.ok(result.training.history.length > 0 && result.training.baselineHistory.length > 0);
    assert.match(result.datasetSha256, /^[0-9a-f]{64}$/);
  });

  it('round-trips through JSON and serves the same predictions', async () => {
    const restored = deserializeTrainingResult(JSON.parse(JSON.stringify(serializeTrainingResult(result))));
    assert.deepEqual(restored.artifact.weightData, result.artifact.weightData);
    const original = await loadServingModel(result);
    const served = await loadServingModel(restored);
    const cases = [
      { age: 70, sex: 'M', bmi: 31, systolic_bp: 150, smoking: 'current', cholesterol: 6.1 },
      { age: 45, sex: 'F', bmi: 'NA', systolic_bp: '', smoking: 'never', cholesterol: 4.2 },
    ];
    const predictions = await served.predict(cases);
    assert.deepEqual(predictions, await original.predict(cases));
    const first = predictions[0]! as { probabilities: Record<string, number>; label: string };
    assert.ok(Math.abs(first.probabilities.yes! + first.probabilities.no! - 1) < 1e-6);
    assert.equal(first.label, first.probabilities.yes! >= 0.5 ? 'yes' : 'no');
    assert.deepEqual(predictions[1]!.warnings.map((w) => w.split(' ')[0]), ['bmi', 'systolic_bp']);
    original.dispose();
    served.dispose();
  });

  it('explains with one attribution per feature, one-hot columns summed', async () => {
    const served = await loadServingModel(result);
    const explanation = explainPrediction(served, { age: 80, sex: 'M', bmi: 35, systolic_bp: 160, smoking: 'current', cholesterol: 6.5 });
    assert.deepEqual(explanation.attributions.map((a) => a.feature).sort(), ['age', 'bmi', 'cholesterol', 'sex', 'smoking', 'systolic_bp']);
    const change = explanation.output - explanation.baselineOutput;
    assert.ok(Math.abs(explanation.completenessGap) <= 0.05 * Math.abs(change) + 1e-4);
    assert.match(explanation.attributions.find((a) => a.feature === 'smoking')!.text, /^smoking: current rather than the training mix \(mostly never\), (raised|lowered) probability of yes by/);
    // The specification's names of the values are stored with the version and spoken.
    assert.deepEqual(result.features.find((f) => f.name === 'sex')!.levelNames, { F: 'female', M: 'male' });
    assert.match(explanation.attributions.find((a) => a.feature === 'sex')!.text, /^sex: male rather than the training mix \(mostly (female|male)\)/);
    served.dispose();
  });

  it('serves a batch exactly as one row at a time', async () => {
    const served = await loadServingModel(result);
    const cases = [30, 50, 70, 89].map((age) => ({ age, sex: 'F', bmi: 25, systolic_bp: 130, smoking: 'former', cholesterol: 5 }));
    const { rows } = served.encode(cases);
    const batch = await served.outputs(rows);
    for (const [i, row] of rows.entries()) assert.deepEqual(await served.outputs([row]), [batch[i]]);
    served.dispose();
  });

  it('refuses impossible and malformed inputs, and flags extrapolation', async () => {
    const served = await loadServingModel(result);
    const valid = { age: 60, sex: 'F', bmi: 25, systolic_bp: 130, smoking: 'never', cholesterol: 5 };
    const badInput = (pattern: RegExp) => (error: unknown) => error instanceof PipelineError && error.code === 'BAD_INPUT' && pattern.test(error.message);
    assert.throws(() => served.encode([{ ...valid, age: -3 }]), badInput(/age = -3 is impossible.*0 and 120 years/));
    assert.throws(() => served.encode([{ ...valid, bmi: 'heavy' }]), badInput(/bmi must be a number/));
    assert.throws(() => served.encode([[1, 2, 3]]), badInput(/named feature values/));
    const [prediction] = await served.predict([{ ...valid, age: 110, smoking: 'vaping' }]);
    assert.ok(prediction!.warnings.some((w) => /age = 110 is outside the training range/.test(w)));
    assert.ok(prediction!.warnings.some((w) => /"vaping" was not seen in training/.test(w)));
    served.dispose();
  });
});

describe('honest estimates: grouped splits and cross-validation', () => {
  // 60 patients with 3 visits each; the outcome follows x, and a patient's visits resemble each other.
  const records = Array.from({ length: 180 }, (_, i) => {
    const patient = Math.floor(i / 3);
    const x = ((patient * 37) % 60) / 10 + (i % 3) * 0.1;
    return { patient: `P${patient}`, x, noise: (i * 13) % 7, outcome: x + ((patient * 7) % 11) / 2.5 > 5 ? 'yes' : 'no' };
  });
  const patientOf = (row: number) => records[row]!.patient;
  const placeholderCard = placeholderCardText('grouped', '', 'records');
  let result: TrainingResult;
  const progress: ProgressEvent[] = [];

  before(async () => {
    result = await trainModel({
      onProgress: (event) => progress.push(event),
      data: { records },
      target: 'outcome',
      task: 'binary',
      group: 'patient',
      crossValidation: { folds: 3, repeats: 2 },
      threshold: { sensitivity: 0.8 },
      coverage: 0.8,
      training: { epochs: 15, patience: 5 },
      baselineTraining: { epochs: 15, patience: 5 },
      bootstrap: { resamples: 50 },
    });
  });

  it('keeps each patient on one side of the split, and the grouping column out of the features', () => {
    const sides = [result.split.train, result.split.validation, result.split.test].map((rows) => new Set(rows.map(patientOf)));
    for (const [a, b] of [[0, 1], [0, 2], [1, 2]] as const) assert.deepEqual([...sides[a]!].filter((p) => sides[b]!.has(p)), []);
    assert.equal(result.split.groupedBy, 'patient');
    assert.deepEqual(result.features.map((f) => f.name), ['x', 'noise']);
  });

  it('reports each metric as mean and spread across 3 folds x 2 repeats, beside the test-split figures', () => {
    const cv = result.crossValidation!;
    assert.deepEqual([cv.folds, cv.repeats, cv.groupedBy], [3, 2, 'patient']);
    const auroc = cv.metrics.auroc!;
    assert.equal(auroc.model!.folds, 6);
    assert.ok(auroc.model!.sd >= 0 && auroc.model!.min <= auroc.model!.mean && auroc.model!.mean <= auroc.model!.max && auroc.model!.max <= 1);
    assert.match(cv.statement, /^3-fold cross-validation, repeated 2 times, folds by patient .*: AUROC 0\.\d{3} ± 0\.\d{3} \(SD over 6 folds\) for the model/);
    // Folds report progress too (a long cross-validation is not silent), each naming its fold; the stored model's epochs name none.
    assert.deepEqual([...new Set(progress.flatMap((event) => (event.fold ? [event.fold] : [])))], ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']);
    assert.equal(progressPhase(progress.find((event) => event.fold === '4/6' && event.phase === 'baseline')!), 'fold 4/6 baseline');
    assert.ok(progress.at(-1)!.fold === undefined);
    // Each fold fits its own recalibration and conformal quantile: the coverage of its held-out rows is reported per fold.
    const coverage = cv.metrics.coverage!;
    assert.equal(coverage.model!.folds, 6);
    assert.ok(coverage.model!.mean > 0.5 && coverage.model!.max <= 1, JSON.stringify(coverage));
    assert.equal(coverage.baseline, null);
    const markdown = renderModelCardMarkdown(buildModelCard(result, placeholderCard));
    assert.match(markdown, /## Cross-validation\n\n3-fold cross-validation, repeated 2 times/);
    assert.match(markdown, /\| auroc \| 0\.\d{3} ± 0\.\d{3} \(0\.\d{3} to [01]\.\d{3}\) \|/);
    assert.match(markdown, /whole groups of patient to one side/);
  });

  it('chooses the threshold on validation by the stated rule, and carries conformal sets with their measured coverage', async () => {
    assert.match(result.thresholdRule!, /^the highest threshold with sensitivity at least 0\.8 on the validation split: /);
    assert.equal((result.evaluation.model.metrics as { threshold: number }).threshold, result.threshold);
    const conformal = result.conformal!;
    // The validation split is small: the quantile is fitted on every training and validation row, each under a network cross-fitted without it.
    assert.deepEqual([conformal.kind, conformal.coverage, conformal.calibrationRows, conformal.source], ['set', 0.8, result.counts.train + result.counts.validation, 'out-of-fold']);
    assert.ok(conformal.test!.coverage >= 0 && conformal.test!.coverage <= 1 && conformal.test!.meanSetSize! >= 1);
    const served = await loadServingModel(result);
    const [prediction] = await served.predict([{ x: 3, noise: 2 }]);
    const set = (prediction as { conformal: { coverage: number; set: string[] } }).conformal;
    assert.equal(set.coverage, 0.8);
    assert.ok(Array.isArray(set.set) && set.set.every((label) => result.classLabels!.includes(label)));
    served.dispose();
    const markdown = renderModelCardMarkdown(buildModelCard(result, placeholderCard));
    assert.match(markdown, /Prediction sets at 80% nominal coverage \(cross-conformal, calibrated on the out-of-fold scores of the \d+ training and validation rows, each under a network cross-fitted without it.*measured coverage on the test split 0\.\d{3} \(95% bootstrap CI 0\.\d{3} to [01]\.\d{3}, patients resampled\)/);
    assert.match(markdown, /\(threshold the highest threshold with sensitivity at least 0\.8/);
    // Probabilities recalibrated on validation by the map with the lowest held-out log-loss (or kept), ECE before and after on the test split.
    assert.deepEqual(result.calibration!.candidates!.map((candidate) => candidate.method), ['none', 'temperature', 'platt']);
    assert.equal(result.calibration!.validationRows, result.counts.validation);
    assert.match(
      markdown,
      /Probabilities (recalibrated by|kept as).*, chosen among none 0\.\d{4}, temperature scaling 0\.\d{4}, Platt scaling 0\.\d{4} .* Expected calibration error \(ECE, 10 equal-width bins\) on the test split: 0\.\d{3} before, 0\.\d{3} after \(95% CI 0\.\d{3} to 0\.\d{3}\)\./,
    );
  });

  it('fits an autoencoder on the training inputs and flags an input unlike them, in the prediction and its explanation', async () => {
    const autoencoder = result.autoencoder!;
    assert.equal(autoencoder.inputs, result.preprocessing.columns.length);
    assert.ok(autoencoder.threshold > 0 && autoencoder.test!.rows === result.counts.test);
    const served = await loadServingModel(result);
    // Each value is possible, but x and noise far from anything seen together in training.
    const [usual, unusual] = await served.predict([{ x: 3, noise: 3 }, { x: 40, noise: -30 }]);
    assert.ok(!usual!.warnings.some((w) => /out-of-distribution score/.test(w)), usual!.warnings.join('; '));
    assert.ok(unusual!.warnings.some((w) => /unlike the training data: out-of-distribution score \d+\.\d\d \(autoencoder reconstruction error/.test(w)), unusual!.warnings.join('; '));
    assert.ok(explainPrediction(served, { x: 40, noise: -30 }).warnings.some((w) => /out-of-distribution score/.test(w)));
    served.dispose();
    const markdown = renderModelCardMarkdown(buildModelCard(result, placeholderCard));
    assert.match(markdown, /Out-of-distribution check: an autoencoder \(8 → 4 → 8\) .* It flags \d+ of the \d+ test rows/);
  });

  it('puts a group in one fold, folds of even size', () => {
    const groups = records.map((r) => r.patient);
    const folds = assignFolds(groups, groups.map(() => 0), 4, 1);
    const foldOf = new Map<string, Set<number>>();
    groups.forEach((group, row) => foldOf.set(group, (foldOf.get(group) ?? new Set()).add(folds[row]!)));
    assert.ok([...foldOf.values()].every((set) => set.size === 1));
    assert.deepEqual([0, 1, 2, 3].map((fold) => folds.filter((f) => f === fold).length), [45, 45, 45, 45]);
    assert.throws(() => parseCrossValidation('5y'), /5 or 5x5/);
    assert.deepEqual(parseCrossValidation('5x5'), { folds: 5, repeats: 5 });
  });
});
