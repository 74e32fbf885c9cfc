import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCsvFile, recordAt } from '../../src/pipeline/csv.ts';
import { datasetsDir, type DefaultModelName, defaultModel, readShippedModel } from '../../src/pipeline/defaults.ts';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { completenessFlagged, explainPrediction, integratedGradients, saliencyMap } from '../../src/pipeline/explain.ts';
import { explainOffThread } from '../../src/pipeline/explain-off-thread.ts';
import { loadServingModel, type ServingModel } from '../../src/pipeline/serving.ts';
import type { Visit } from '../../src/pipeline/sequence-encoding.ts';
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

  it('speaks of a number of two values (sex coded 1 and 2) as categories, by the names the specification gives', async () => {
    const { result, serving, testRows } = await shipped('diabetes-progression');
    served.push(serving);
    const sexOf = (model: ServingModel, sex: number) => explainPrediction(model, { ...testRows[0]!, sex }).attributions.find((a) => a.feature === 'sex')!.text;
    assert.match(sexOf(serving, 2), /^sex: 2 rather than 1 \(training rows: \d+% 2\), (raised|lowered) predicted progression score by [0-9.]+$/);
    assert.match(sexOf(serving, 1), /^sex: 1 rather than 2 /);
    // Numbers of more values stay amounts.
    assert.match(explainPrediction(serving, testRows[0]!).attributions.find((a) => a.feature === 'bmi')!.text, /^bmi [0-9.]+ kg\/m2 (above|below) typical/);
    const named = await loadServingModel({ ...result, features: result.features.map((f) => (f.name === 'sex' ? { ...f, levelNames: { '1': 'group one', '2': 'group two' } } : f)) });
    served.push(named);
    assert.match(sexOf(named, 2), /^sex: group two rather than group one \(training rows: \d+% group two\)/);
  });
});

describe('sequence model explanations (pbc-mortality)', () => {
  /** Every 15th test visit of the shipped model, each with its patient's visits up to it, explained. */
  async function explainedVisits() {
    const { result, serving } = await shipped('pbc-mortality');
    served.push(serving);
    const dataset = await readCsvFile(path.join(datasetsDir, defaultModel('pbc-mortality').dataset));
    const records = Array.from({ length: dataset.rowCount }, (_, row) => recordAt(dataset, row));
    const cases = result.split.test
      .filter((_, k) => k % 15 === 0)
      .map((row) => {
        const { id, day } = records[row]!;
        const visits = records.filter((record) => record.id === id && (record.day as number) <= (day as number)).map((record) => ({ time: record.day as number, values: record }));
        return { visits, explanation: explainPrediction(serving, { visits }) };
      });
    const probability = async (visits: Visit[]) => (await serving.outputs(serving.encode([{ visits }]).rows))[0]![0]!;
    return { result, serving, cases, probability };
  }
  let explained: Awaited<ReturnType<typeof explainedVisits>>;
  before(async () => {
    explained = await explainedVisits();
  });

  it('attributes the output\'s difference from a typical history to features and the gaps, visit by visit', async () => {
    const { result, cases, probability } = explained;
    assert.ok(cases.length >= 15 && cases.some(({ visits }) => visits.length > 4), `${cases.length} cases`);
    for (const { visits, explanation } of cases) {
      assert.equal(explanation.output, await probability(visits), 'the output explained is the prediction');
      const total = explanation.attributions.reduce((sum, item) => sum + item.attribution, 0);
      assert.ok(Math.abs(total - (explanation.output - explanation.baselineOutput) - explanation.completenessGap) < 1e-4);
      assert.equal(explanation.completenessFlagged, false, `gap ${explanation.completenessGap} of ${explanation.output - explanation.baselineOutput}`);
      assert.deepEqual(explanation.attributions.map((item) => item.feature).sort(), [...result.features.map((feature) => feature.name), 'time since previous visit'].sort());
      const kept = visits.slice(-result.sequence!.steps);
      for (const item of explanation.attributions) {
        assert.deepEqual(item.visits!.map((visit) => visit.time), kept.map((visit) => visit.time));
        assert.ok(Math.abs(item.visits!.reduce((sum, visit) => sum + visit.attribution, 0) - item.attribution) < 1e-6, item.feature);
      }
      // A patient's first visit has no gap: the typical history gives it none either.
      if (visits.length === 1) assert.equal(explanation.attributions.find((item) => item.feature === 'time since previous visit')!.attribution, 0);
    }
  });

  it('names the feature whose replacement by its typical value on every visit moves the risk the stated way', async () => {
    const { cases, probability } = explained;
    for (const { visits, explanation } of cases) {
      const top = explanation.attributions.find((item) => item.feature !== 'time since previous visit' && typeof item.typical === 'number')!;
      const typical = visits.map((visit) => ({ time: visit.time, values: { ...visit.values, [top.feature]: top.typical } }));
      const moved = (await probability(typical)) - explanation.output;
      assert.equal(Math.sign(moved), -Math.sign(top.attribution), `${top.text}: typical values moved the risk by ${moved}`);
    }
  });

  it('attributes uneven gaps: spacing the visits by the mean gap moves the risk against the gap\'s attribution', async () => {
    const { result, cases, probability } = explained;
    const telling = cases.filter(({ explanation }) => Math.abs(explanation.attributions.find((item) => item.feature === 'time since previous visit')!.attribution) > 0.002);
    assert.ok(telling.length >= 2, 'some histories whose gaps matter');
    for (const { visits, explanation } of telling) {
      const gap = explanation.attributions.find((item) => item.feature === 'time since previous visit')!;
      const even = visits.map((visit, k) => ({ time: k * result.sequence!.gapScale, values: visit.values }));
      const moved = (await probability(even)) - explanation.output;
      assert.equal(Math.sign(moved), -Math.sign(gap.attribution), `${gap.text}: even gaps moved the risk by ${moved}`);
    }
  });

  it('speaks to clinicians in units, naming the visit that mattered most', () => {
    const { visits, explanation } = explained.cases.find((item) => item.visits.length > 2)!;
    const bili = explanation.attributions.find((item) => item.feature === 'bili')!;
    assert.match(bili.text, new RegExp(`^bili at the latest visit [0-9.]+ mg/dL (above|below) typical \\([0-9.]+ mg/dL\\), (raised|lowered) probability of death within 2 years by [0-9.e-]+, summed over ${visits.length} visits; most at day [0-9]+ \\([+−][0-9.e-]+\\)$`));
    assert.match(explanation.attributions.find((item) => item.feature === 'time since previous visit')!.text, /^time since previous visit [0-9.]+ d (above|below) typical \([0-9.]+ d\)/);
    assert.match(explanation.baseline, /typical history/);
    assert.deepEqual(explanation.top, explanation.attributions.slice(0, 5).map((item) => item.text));
  });
  it('are computed off the caller\'s thread, the same as here, while its event loop keeps turning', async () => {
    const { serving, cases } = explained;
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 1);
    try {
      for (const { visits, explanation } of cases.slice(0, 5)) {
        const before = ticks;
        assert.deepEqual(await explainOffThread(serving, { visits }), explanation);
        // Inline, the explanation would run in one microtask and no timer could fire before it returned.
        assert.ok(ticks > before, 'the event loop turned while the worker explained');
      }
    } finally {
      clearInterval(ticking);
    }
    await assert.rejects(explainOffThread(serving, { visits: [] }), (e: unknown) => e instanceof PipelineError && e.code === 'BAD_INPUT' && /at least one/.test(e.message));
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
