import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildModelCard, renderModelCardMarkdown } from '../../src/pipeline/card.ts';
import { type Dataset, type RawRecord, readCsvFile, recordAt } from '../../src/pipeline/csv.ts';
import { checkQualityBars, datasetsDir, defaultModels, readShippedModel } from '../../src/pipeline/defaults.ts';
import { computeMetrics } from '../../src/pipeline/evaluate.ts';
import { loadServingModel, type SequenceHistory } from '../../src/pipeline/serving.ts';
import { labelEventWithin, readTimeline } from '../../src/pipeline/sequence-data.ts';
import type { SequenceEncoding } from '../../src/pipeline/sequence-encoding.ts';
import { initTensorflow } from '../../src/pipeline/tensorflow.ts';

/** A sequence model's input for a visit: its patient's visits up to and including it. */
function historyOf(dataset: Dataset, sequence: SequenceEncoding, visit: RawRecord): SequenceHistory {
  const records = Array.from({ length: dataset.rowCount }, (_, row) => recordAt(dataset, row));
  const own = records.filter((record) => record[sequence.id] === visit[sequence.id] && (record[sequence.time] as number) <= (visit[sequence.time] as number));
  return { visits: own.map((record) => ({ time: record[sequence.time] as number, values: record })) };
}

before(async () => {
  await initTensorflow();
});

describe('the cross-validation kept in shipped cards (train-defaults --cv)', () => {
  it('gives pbc-mortality\'s coverage across 5 folds by patient beside its test split, and breast-cancer\'s 5x5', async () => {
    const pbc = await readShippedModel('pbc-mortality');
    assert.deepEqual([pbc.result.crossValidation?.folds, pbc.result.crossValidation?.groupedBy], [5, 'id']);
    assert.equal(pbc.result.crossValidation!.metrics.coverage!.model!.folds, 5);
    assert.match(renderModelCardMarkdown(pbc.card), /## Cross-validation\n\n5-fold cross-validation, folds by id[\s\S]*\| coverage \| 0\.\d{3} ± 0\.\d{3}/);
    const breast = await readShippedModel('breast-cancer');
    assert.deepEqual([breast.result.crossValidation?.folds, breast.result.crossValidation?.repeats], [5, 5]);
    assert.ok(breast.result.crossValidation!.metrics.eceSweep!.model, 'the sweep estimate across folds');
  });
});

describe('the shipped default models', () => {
  for (const model of defaultModels) {
    describe(model.name, () => {
      it('meets its quality bars on the test split (stored metrics)', async () => {
        const { result } = await readShippedModel(model.name);
        for (const { bar, value, met } of checkQualityBars(model, result)) {
          assert.ok(met, `${bar.metric} = ${value} misses its bar ${JSON.stringify(bar)}`);
        }
      });

      it('loads, predicts its test split and reproduces the stored metrics', async () => {
        const { result } = await readShippedModel(model.name);
        const dataset = await readCsvFile(path.join(datasetsDir, model.dataset));
        assert.equal(dataset.sha256, result.datasetSha256, 'the shipped CSV is the one the model was trained on');
        const serving = await loadServingModel(result);
        const labelled = model.options.sequence?.eventWithin
          ? labelEventWithin(dataset, readTimeline(dataset, model.options.sequence), model.options.sequence.eventWithin, result.target).dataset
          : dataset;
        const testRows = result.split.test.map((row) => recordAt(labelled, row));
        const inputs = result.image ? testRows.map((row) => result.features.map((f) => Number(row[f.name]))) : result.sequence ? testRows.map((row) => historyOf(labelled, result.sequence!, row)) : testRows;
        const predictions = await serving.predict(inputs);
        assert.equal(predictions.length, result.counts.test);
        const outputs = await serving.outputs(serving.encode(inputs).rows);
        const actual = testRows.map((row) => (result.classLabels ? result.classLabels.indexOf(String(row[result.target])) : Number(row[result.target])));
        const target = { kind: result.task === 'binary' ? 'binary' : result.task === 'regression' ? 'regression' : 'multiclass', labels: result.classLabels, threshold: result.threshold ?? 0.5 } as const;
        assert.deepEqual(computeMetrics(target, actual, outputs), result.evaluation.model.metrics);
        const first = predictions[0]!;
        if ('label' in first) assert.ok(result.classLabels!.includes(first.label));
        else assert.ok(Number.isFinite(first.value));
        serving.dispose();
      });

      it('has a model card with plots for classifiers', async () => {
        const { result, card } = await readShippedModel(model.name);
        assert.deepEqual(card, JSON.parse(JSON.stringify(buildModelCard(result, model.card))), 'the stored card is the card of the stored result');
        assert.equal(card.data.sampleSize, result.counts.usableRows);
        assert.ok(card.intendedUse.outOfScope.length > 0 && card.limitations.length > model.card.limitations.length);
        const markdown = renderModelCardMarkdown(card);
        for (const heading of ['Intended use', 'Outcome', 'Data', 'Model', 'Validation', 'Performance (test split)', 'Limitations']) {
          assert.match(markdown, new RegExp(`^## ${heading.replace(/[()]/g, '\\$&')}$`, 'm'));
        }
        assert.match(markdown, /\| model \(95% CI\) \| baseline \(95% CI\) \|/);
        if (result.classLabels) {
          assert.match(card.plots.calibration!, /^<svg[^>]*>[\s\S]*<circle[\s\S]*<\/svg>$/);
          assert.match(markdown, /!\[Calibration\]\(data:image\/svg\+xml;base64,/);
        }
        if (result.task === 'binary') assert.match(card.plots.roc!, /^<svg[\s\S]*<polyline[\s\S]*<\/svg>$/);
        if (result.task === 'regression') {
          assert.equal(card.plots.roc, null);
          assert.match(card.plots.predictedObserved!, /^<svg[\s\S]*Predicted against observed[\s\S]*<circle[\s\S]*<\/svg>$/);
          assert.match(markdown, /!\[Residuals\]\(data:image\/svg\+xml;base64,/);
        }
      });
    });
  }

  it('reports subgroups where the data has sex and age columns', async () => {
    const { result, card } = await readShippedModel('diabetes-progression');
    assert.deepEqual(result.evaluation.subgroups.map((s) => `${s.column} ${s.group}`), ['sex 1', 'sex 2', 'age <40', 'age 40-59', 'age ≥60']);
    assert.equal(result.evaluation.subgroups.filter((s) => s.column === 'age').reduce((sum, s) => sum + s.n, 0), result.counts.test);
    assert.match(renderModelCardMarkdown(card), /## Subgroups \(test split\)/);
  });
});
