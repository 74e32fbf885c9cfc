import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCsvFile, recordAt } from '../../src/pipeline/csv.ts';
import { datasetsDir, type DefaultModelName, defaultModel, readShippedModel } from '../../src/pipeline/defaults.ts';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { completenessFlagged, explainPrediction, integratedGradients, saliencyMap } from '../../src/pipeline/explain.ts';
import { loadServingModel, type ServingModel } from '../../src/pipeline/serving.ts';
import { initTensorflow, tf } from '../../src/pipeline/tensorflow.ts';

/** A shipped model, served, with the raw rows of its test split (cases it was not trained on). */
async function shipped(name: DefaultModelName) {
  const { result } = await readShippedModel(name);
  const dataset = await readCsvFile(path.join(datasetsDir, defaultModel(name).dataset));
  const testRows = result.split.test.map((row) => recordAt(dataset, row));
  return { result, serving: await loadServingModel(result), testRows };
}

const served: ServingModel[] = [];
before(async () => {
  await initTensorflow();
});
after(() => served.forEach((model) => model.dispose()));

describe('completeness flag', () => {
  it('flags a gap above 5% of the output change', () => {
    assert.equal(completenessFlagged(0.005, 0.1), false);
    assert.equal(completenessFlagged(-0.005, 0.1), false);
    assert.equal(completenessFlagged(0.0051, 0.1), true);
    assert.equal(completenessFlagged(-0.0051, -0.1), true);
    assert.equal(completenessFlagged(0, 0), false);
    assert.equal(completenessFlagged(0.02, 0.1, 0.25), false);
  });

  it('refines the integral of an explanation that fails the check', async () => {
    const { serving, testRows } = await shipped('breast-cancer');
    served.push(serving);
    // With 2 steps the trapezoid rule misses the ReLU kinks of most rows; the result must still be complete.
    const explanations = testRows.slice(0, 10).map((row) => explainPrediction(serving, row, { steps: 2 }));
    assert.ok(explanations.some((e) => e.steps > 2));
    for (const e of explanations) {
      // Still flagged only when quadrupling again would pass the limit of 800.
      if (e.completenessFlagged) assert.ok(e.steps * 4 > 800);
      assert.equal(e.completenessFlagged, completenessFlagged(e.completenessGap, e.output - e.baselineOutput));
    }
    // Without room to refine, the flag stays up.
    assert.ok(testRows.slice(0, 10).some((row) => explainPrediction(serving, row, { steps: 2, maxSteps: 2 }).completenessFlagged));
  });
});

describe('integrated gradients', () => {
  it('is exact for a linear model: attribution = weight x (input - baseline)', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [3], useBias: true })] });
    model.setWeights([tf.tensor2d([[2], [-1], [0.5]]), tf.tensor1d([0.3])]);
    const { attributions, output, baselineOutput, gap } = integratedGradients(model, [1, 2, 3], [0, 0, 1], [1], 10);
    [2 * 1, -1 * 2, 0.5 * 2].forEach((expected, i) => assert.ok(Math.abs(attributions[i]! - expected) < 1e-5));
    assert.ok(Math.abs(output - (2 - 2 + 1.5 + 0.3)) < 1e-5);
    assert.ok(Math.abs(baselineOutput - (0.5 + 0.3)) < 1e-5);
    assert.ok(Math.abs(gap) < 1e-5);
    model.dispose();
  });

  for (const name of ['breast-cancer', 'diabetes-progression'] as const) {
    it(`satisfies completeness on the shipped ${name} model`, async () => {
      const { result, serving, testRows } = await shipped(name);
      served.push(serving);
      const steps: number[] = [];
      for (const row of testRows) {
        const explanation = explainPrediction(serving, row);
        steps.push(explanation.steps);
        const change = explanation.output - explanation.baselineOutput;
        const sum = explanation.attributions.reduce((total, item) => total + item.attribution, 0);
        assert.ok(Math.abs(sum - change - explanation.completenessGap) < 1e-4, 'the gap is sum - change');
        assert.ok(Math.abs(explanation.completenessGap) <= 0.05 * Math.abs(change) + 1e-4, `gap ${explanation.completenessGap} for a change of ${change}`);
        assert.equal(explanation.completenessFlagged, completenessFlagged(explanation.completenessGap, change));
        assert.equal(explanation.attributions.length, result.features.length);
        const [prediction] = await serving.outputs(serving.encode([row]).rows);
        assert.ok(Math.abs(explanation.output - prediction![0]!) < 1e-5, 'explains the served output');
      }
      // 50 steps by default, refined only where the coarse integral failed the check.
      assert.ok(steps.filter((n) => n === 50).length > testRows.length * 0.9);
      assert.ok(steps.every((n) => n >= 50 && n <= 800));
    });
  }

  it('speaks plain words in output units', async () => {
    const { serving, testRows } = await shipped('breast-cancer');
    served.push(serving);
    const explanation = explainPrediction(serving, testRows[0]!, { top: 3 });
    assert.equal(explanation.outputName, 'malignancy probability');
    assert.equal(explanation.top.length, 3);
    const first = explanation.attributions[0]!;
    assert.ok(Math.abs(first.attribution) >= Math.abs(explanation.attributions[1]!.attribution));
    assert.match(first.text, new RegExp(`^${first.feature} [0-9.e-]+ (above|below) typical \\([0-9.e-]+\\), (raised|lowered) malignancy probability by [0-9.e-]+$`));
    assert.equal(explanation.top[0], first.text);
  });

  it('reports imputed values, and units in raw terms', async () => {
    const { result, serving, testRows } = await shipped('diabetes-progression');
    served.push(serving);
    const explanation = explainPrediction(serving, { ...testRows[0]!, bmi: null });
    assert.deepEqual(explanation.attributions.map((a) => a.feature).sort(), result.features.map((f) => f.name).sort());
    const bmi = explanation.attributions.find((a) => a.feature === 'bmi')!;
    assert.equal(bmi.imputed, true);
    assert.match(bmi.text, /^bmi \(missing, filled from training\)/);
    assert.ok(explanation.warnings.some((w) => w.startsWith('bmi is missing')));
    assert.match(explanation.attributions.find((a) => a.feature === 'age')!.text, /years/);
  });
});

describe('saliency', () => {
  it('has the image size and points at the pixels that matter', async () => {
    const { serving, testRows } = await shipped('digits');
    served.push(serving);
    const pixels = Array.from({ length: 64 }, (_, i) => Number(testRows[0]![`px${i}`]));
    const map = saliencyMap(serving, pixels);
    assert.equal(map.width, 8);
    assert.equal(map.height, 8);
    assert.equal(map.values.length, 8);
    assert.ok(map.values.every((row) => row.length === 8 && row.every(Number.isFinite)));
    assert.ok(map.values.flat().some((value) => value !== 0));
    assert.equal(map.label, String(testRows[0]!.label));
    assert.ok(map.probability > 0.5);
    // Rows of pixels are accepted too.
    const rows = Array.from({ length: 8 }, (_, y) => pixels.slice(y * 8, y * 8 + 8));
    assert.deepEqual(saliencyMap(serving, rows).values, map.values);
  });

  it('refuses images of the wrong size and tabular models', async () => {
    const { serving } = await shipped('digits');
    served.push(serving);
    assert.throws(() => saliencyMap(serving, [1, 2, 3]), (e: unknown) => e instanceof PipelineError && /8x8 = 64 pixels, got 3/.test(e.message));
    assert.throws(() => saliencyMap(serving, Array.from({ length: 64 }, () => 17)), (e: unknown) => e instanceof PipelineError && /impossible/.test(e.message));
    assert.throws(() => explainPrediction(serving, {}), (e: unknown) => e instanceof PipelineError && e.code === 'BAD_INPUT');
  });
});
