import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { datasetsDir, defaultModel } from '../../src/pipeline/defaults.ts';
import { trainModel } from '../../src/pipeline/pipeline.ts';
import { trainingProgressBar } from '../../src/pipeline/progress-bar.ts';
import { createRandom } from '../../src/pipeline/random.ts';
import { initTensorflow } from '../../src/pipeline/tensorflow.ts';

/** An output that is not a terminal (a log, a pipe, CI), keeping what is written. */
function logOutput(): { output: NodeJS.WriteStream; lines: string[] } {
  const lines: string[] = [];
  const output = { isTTY: false, write: (text: string) => lines.push(...text.split('\n').filter(Boolean)) > 0 };
  return { output: output as unknown as NodeJS.WriteStream, lines };
}

/** A binary outcome of three measurements, as CSV text with a header. */
function clinicalCsv(rows: number, seed: number): string {
  const random = createRandom(seed);
  const lines = ['age,systolic,marker,outcome'];
  for (let row = 0; row < rows; row++) {
    const [age, systolic, marker] = [30 + random.int(60), 100 + random.int(80), random.next() * 4];
    const risk = 1 / (1 + Math.exp(-(0.03 * (age - 60) + 0.6 * (marker - 2))));
    lines.push(`${age},${systolic},${marker.toFixed(3)},${random.next() < risk ? 'yes' : 'no'}`);
  }
  return `${lines.join('\n')}\n`;
}

class StopAfterFirstEpoch extends Error {}

let dir = '';
before(async () => {
  await initTensorflow();
  dir = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-progress-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('progress without a terminal', () => {
  it('writes lines while a 200,000-row file is read and checked, before the first epoch', async () => {
    const file = path.join(dir, 'large.csv');
    await writeFile(file, clinicalCsv(200_000, 3));
    const { output, lines } = logOutput();
    // Every event becomes a line here (no interval), so that a fast machine still shows the lines a slow one would space out.
    const progress = trainingProgressBar('large', output, 0);
    const training = trainModel({
      data: { csvPath: file },
      target: 'outcome',
      task: 'binary',
      positiveClass: 'yes',
      training: { stepsPerEpoch: 5 },
      onStage: progress.onStage,
      onProgress: (event) => {
        progress.onProgress(event);
        throw new StopAfterFirstEpoch();
      },
    });
    await assert.rejects(training, StopAfterFirstEpoch);
    const reading = lines.filter((line) => line.startsWith('large reading: '));
    assert.equal(reading.length, 20, lines.join('\n'));
    assert.match(reading[0]!, /^large reading: \d+%, 10000 rows$/);
    assert.match(reading[19]!, /^large reading: 100%, 200000 rows$/);
    const checking = lines.filter((line) => line.startsWith('large checking the data: '));
    assert.deepEqual(checking.map((line) => line.replace(/^large checking the data: \d+%, /, '')), ['possible ranges', 'duplicates and targets', 'column types and statistics', 'leak checks']);
    assert.match(lines.at(-1)!, /^large model: epoch 1\/300, loss \d\.\d{4}, val loss \d\.\d{4}, val accuracy \d\.\d{3}$/);
    assert.ok(lines.indexOf(reading[19]!) < lines.indexOf(`large checking the data: 0%, possible ranges`));
  });

  it('writes a line when evaluation starts and at each of its steps, after training', async () => {
    const { output, lines } = logOutput();
    const progress = trainingProgressBar('small', output, 0);
    await trainModel({
      data: { csvText: clinicalCsv(400, 5) },
      target: 'outcome',
      task: 'binary',
      positiveClass: 'yes',
      training: { epochs: 2 },
      baselineTraining: { epochs: 2 },
      bootstrap: { resamples: 20 },
      onStage: progress.onStage,
      onProgress: progress.onProgress,
    });
    const evaluating = lines.filter((line) => line.startsWith('small evaluating: '));
    assert.deepEqual(evaluating, ['small evaluating: 0%, recalibration', 'small evaluating: 20%, out-of-distribution autoencoder', 'small evaluating: 60%, metrics and bootstrap intervals']);
    assert.ok(lines.indexOf(evaluating[0]!) > lines.findLastIndex((line) => line.startsWith('small baseline: epoch')));
  });

  it('writes the same steps for a sequence model: checking the data, training, evaluating', async () => {
    const pbc = defaultModel('pbc-mortality');
    const lines = (await readFile(path.join(datasetsDir, pbc.dataset), 'utf8')).trim().split('\n');
    // The visits of pbcseq's first 40 patients, four visits seen, two epochs: the steps, not the model, are under test.
    const csvText = [lines[0]!, ...lines.slice(1).filter((line) => Number(line.split(',')[0]) <= 40)].join('\n');
    const { output, lines: written } = logOutput();
    const progress = trainingProgressBar('visits', output, 0);
    await trainModel({
      ...pbc.options,
      sequence: { ...pbc.options.sequence!, steps: 4, units: 4 },
      data: { csvText },
      training: { epochs: 2 },
      baselineTraining: { epochs: 2 },
      bootstrap: { resamples: 20 },
      onStage: progress.onStage,
      onProgress: progress.onProgress,
    });
    const step = (line: string) => line.replace(/:.*$/, '');
    const steps = written.map(step).filter((name, k, all) => name !== all[k - 1]);
    assert.deepEqual(steps, ['visits checking the data', 'visits model', 'visits baseline', 'visits evaluating'], written.join('\n'));
    const checking = written.filter((line) => step(line) === 'visits checking the data');
    assert.deepEqual(checking.map((line) => line.replace(/^visits checking the data: \d+%, /, '')), ['possible ranges', 'duplicates and targets', 'column types and statistics', 'leak checks']);
    assert.deepEqual(written.filter((line) => step(line) === 'visits evaluating'), ['visits evaluating: 0%, recalibration', 'visits evaluating: 50%, metrics and bootstrap intervals']);
  });

  it('spaces the lines of one step by the interval, and starts a line at each new step', () => {
    const { output, lines } = logOutput();
    const progress = trainingProgressBar('spaced', output, 60_000);
    for (let rows = 10_000; rows <= 200_000; rows += 10_000) progress.onStage({ stage: 'read', detail: `${rows} rows`, fraction: rows / 200_000 });
    progress.onStage({ stage: 'check', detail: 'possible ranges', fraction: 0 });
    progress.onStage({ stage: 'check', detail: 'leak checks', fraction: 0.75 });
    assert.deepEqual(lines, ['spaced reading: 5%, 10000 rows', 'spaced checking the data: 0%, possible ranges']);
  });
});
