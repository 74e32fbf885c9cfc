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
import { type TrainingResult, trainModel } from '../../src/pipeline/pipeline.ts';
import { initTensorflow } from '../../src/pipeline/tensorflow.ts';
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
    for (const metric of ['accuracy', 'auroc', 'ece', 'eceChance', 'coverage']) assert.equal(cv.metrics[metric]!.model!.folds, 4, metric);
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
