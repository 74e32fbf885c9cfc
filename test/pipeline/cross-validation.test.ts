/*
 * Repeated cross-validation of the convolutional network, small: the shipped
 * digits' first 300 images, 2 folds x 2 repeats, 2 epochs. The full 5x5 on
 * all 1,797 images takes tens of minutes on 2 cores (README, Models).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildModelCard, renderModelCardMarkdown } from '../../src/pipeline/card.ts';
import { datasetsDir } from '../../src/pipeline/defaults.ts';
import { buildNetwork } from '../../src/pipeline/architectures.ts';
import { crossValidate, foldSpreadLines } from '../../src/pipeline/cross-validation.ts';
import { matrixFromRows } from '../../src/pipeline/matrix.ts';
import { calibrationRows, conformalOutputs, predictWith, scoreFold, type TrainingResult, trainModel } from '../../src/pipeline/pipeline.ts';
import { initTensorflow } from '../../src/pipeline/tensorflow.ts';
import { chooseThreshold, crossFitBelowRows } from '../../src/pipeline/uncertainty.ts';
import type { ProgressEvent } from '../../src/pipeline/train.ts';
import { placeholderCardText } from '../../src/models/stored-version.ts';

describe('repeated cross-validation of a convolutional network', () => {
  let result: TrainingResult;
  const progress: ProgressEvent[] = [];

  before(async () => {
    await initTensorflow();
    const lines = (await readFile(path.join(datasetsDir, 'digits.csv'), 'utf8')).split('\n');
    result = await trainModel({
      data: { csvText: lines.slice(0, 301).join('\n'), source: 'digits (first 300)' },
      target: 'label',
      task: 'image',
      image: { width: 8, height: 8, pixelScale: 16 },
      crossValidation: { folds: 2, repeats: 2 },
      training: { epochs: 2 },
      baselineTraining: { epochs: 2 },
      bootstrap: { resamples: 20 },
      onProgress: (event) => progress.push(event),
    });
  });

  it('trains the CNN in every fold and reports each metric across the 4 folds, with the chance level of the ECE', () => {
    const cv = result.crossValidation!;
    assert.deepEqual([cv.folds, cv.repeats, cv.groupedBy], [2, 2, null]);
    assert.equal(result.architecture.kind, 'cnn');
    for (const metric of ['accuracy', 'auroc', 'ece', 'eceChance', 'eceSweep', 'eceSweepChance', 'coverage']) assert.equal(cv.metrics[metric]!.model!.folds, 4, metric);
    assert.equal(cv.metrics.accuracy!.baseline!.folds, 4);
    assert.equal(cv.metrics.eceChance!.baseline, null);
    assert.ok(cv.metrics.accuracy!.model!.mean > 0.1 && cv.metrics.coverage!.model!.mean > 0.5, JSON.stringify(cv.metrics));
    assert.deepEqual([...new Set(progress.flatMap((event) => (event.fold ? [event.fold] : [])))], ['1/4', '2/4', '3/4', '4/4']);
    assert.match(cv.statement, /^2-fold cross-validation, repeated 2 times: accuracy 0\.\d{3} ± 0\.\d{3} \(SD over 4 folds\) for the model/);
    const markdown = renderModelCardMarkdown(buildModelCard(result, placeholderCardText('digits-cv', '', 'digits')));
    assert.match(markdown, /## Cross-validation\n\n2-fold cross-validation, repeated 2 times/);
    assert.match(markdown, /\| eceChance \| 0\.\d{3} ± 0\.\d{3} /);
  });
});

describe('the decision threshold in cross-validation', () => {
  it('scores each fold at the threshold its rule chose, for the model and its baseline', async () => {
    const rows = 40;
    const targets = Array.from({ length: rows }, (_, row) => row % 2);
    // Positives score 0.4, negatives 0.2: at 0.5 every positive is missed; at the fold's 0.4 every row is right.
    const cv = await crossValidate({ folds: 2 }, { kind: 'binary', labels: ['no', 'yes'], threshold: 0.5 }, targets.map(String), targets, null, 1, async (split) => {
      const outputs = split.test.map((row) => [targets[row] === 1 ? 0.4 : 0.2]);
      return { actual: split.test.map((row) => targets[row]!), model: outputs, baseline: outputs, threshold: 0.4 };
    }, 'the same');
    assert.equal(cv.metrics.accuracy!.model!.mean, 1);
    assert.equal(cv.metrics.accuracy!.baseline!.mean, 1);
    // The report names which calibration figure the target is judged on.
    const lines = foldSpreadLines(cv);
    assert.match(lines.find((line) => line.startsWith('ece:'))!, /\[binned ECE, 10 equal-width bins: the ECE target \(at most 0\.03\) is judged on this figure\]$/);
    assert.match(lines.find((line) => line.startsWith('eceSweep:'))!, /less biased upwards on few rows; shown beside, not judged\]$/);
  });

  it('fits the conformal quantile on out-of-fold outputs when the validation split is small, on the validation split when it is not', async () => {
    await initTensorflow();
    const network = buildNetwork({ kind: 'dense', hiddenUnits: [3], dropout: 0 }, { inputSize: 2, outputUnits: 1, outputActivation: 'sigmoid' }, 5);
    const rows = (count: number) => ({ x: matrixFromRows(Array.from({ length: count }, (_, k) => [Math.sin(k), Math.cos(k)])), y: Array.from({ length: count }, (_, k) => k % 2) });
    let crossFitted = 0;
    const outOfFold = async () => {
      crossFitted++;
      return { outputs: [[0.2], [0.7]], y: [0, 1] };
    };
    try {
      assert.deepEqual(await calibrationRows(network, rows(crossFitBelowRows - 1), outOfFold), { outputs: [[0.2], [0.7]], y: [0, 1], source: 'out-of-fold' });
      const large = rows(crossFitBelowRows);
      const own = await calibrationRows(network, large, outOfFold);
      assert.equal(crossFitted, 1, 'no networks are cross-fitted for a large validation split');
      assert.deepEqual([own.source, own.y], ['validation', large.y]);
      assert.deepEqual(own.outputs, await predictWith(network, large.x));
    } finally {
      network.dispose();
    }
  });

  it("scores out-of-fold outputs under the stored network's recalibration map", () => {
    const recalibrated = { calibration: { method: 'platt' as const, a: 0.5, b: -1, validationRows: 60, ece: { before: 0, after: 0 } }, heldOut: [[0.9]] };
    const [mapped] = conformalOutputs('binary', { outputs: [[0.8]], y: [1], source: 'out-of-fold' }, recalibrated);
    assert.ok(Math.abs(mapped![0]! - 1 / (1 + Math.exp(-(0.5 * Math.log(4) - 1)))) < 1e-9);
    assert.deepEqual(conformalOutputs('binary', { outputs: [[0.8]], y: [1], source: 'validation' }, recalibrated), [[0.9]]);
    assert.deepEqual(conformalOutputs('binary', { outputs: [[0.8]], y: [1], source: 'out-of-fold' }, null), [[0.8]]);
  });

  it("chooses a fold's threshold by the rule on its validation rows", async () => {
    await initTensorflow();
    const network = buildNetwork({ kind: 'dense', hiddenUnits: [3], dropout: 0 }, { inputSize: 2, outputUnits: 1, outputActivation: 'sigmoid' }, 5);
    const part = (offset: number, count: number) => {
      const x = Array.from({ length: count }, (_, k) => [Math.sin(offset + k), Math.cos(3 * (offset + k))]);
      return { x: matrixFromRows(x), y: x.map(([a, b]) => (a! + 0.3 * b! > 0 ? 1 : 0)) };
    };
    const [validation, test] = [part(0, 60), part(200, 20)];
    try {
      const held = (await predictWith(network, validation.x)).map((row) => row[0]!);
      const expected = chooseThreshold('youden', validation.y, held).threshold;
      const outputs = await scoreFold({ network, baseline: network, validation }, { network: test, baseline: test }, 'binary', ['no', 'yes'], { calibrate: false, threshold: 'youden' } as never, { outputs: held.map((p) => [p]), y: validation.y, source: 'validation' });
      assert.equal(outputs.threshold, expected);
      assert.notEqual(expected, 0.5);
      assert.equal(outputs.model.length, 20);
    } finally {
      network.dispose();
    }
  });
});
