/*
 * The slow test: retrains the three default models from the shipped CSVs
 * with the shipped settings and checks they reach their quality bars again.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { checkQualityBars, defaultModels, readShippedModel, trainDefaultModel } from '../../src/pipeline/defaults.ts';
import { initTensorflow } from '../../src/pipeline/tensorflow.ts';

let backend = '';
before(async () => {
  backend = (await initTensorflow()).backend;
});

describe('retraining the default models from the shipped data', () => {
  for (const model of defaultModels) {
    it(`${model.name} reaches its quality bars`, async (t) => {
      const started = performance.now();
      const { result } = await trainDefaultModel(model);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const checks = checkQualityBars(model, result);
      t.diagnostic(`${model.name}: ${seconds} s on ${backend}; ${checks.map(({ bar, value }) => `${bar.metric} ${value?.toFixed(4)}`).join(', ')}`);
      for (const { bar, value, met } of checks) assert.ok(met, `${bar.metric} = ${value} misses its bar ${JSON.stringify(bar)}`);
      const shipped = await readShippedModel(model.name);
      assert.deepEqual(result.split, shipped.result.split, 'the same seed splits the same rows');
      // Same seed and backend give the same weights; another backend may differ in the last bits.
      if (shipped.result.training.backend === backend) assert.equal(result.weightsSha256, shipped.result.weightsSha256, 'retraining reproduces the shipped weights');
    });
  }
});
