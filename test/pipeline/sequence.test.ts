/*
 * Sequence models on longitudinal data (one row per visit): labels without
 * censoring bias, the visit encoding (missing indicators, gaps, padding), a
 * patient-level split, and a GRU trained on pbcseq against its last-visit
 * baseline, served from the patient's visits exactly as it was evaluated.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { buildModelCard, computeMetrics, datasetsDir, defaultModel, loadServingModel, parseCsv, PipelineError, readCsvFile, readFeatureSpec, recordAt, renderModelCardMarkdown, type TrainingResult, trainModel } from '../../src/pipeline/index.ts';
import { crossValidate } from '../../src/pipeline/cross-validation.ts';
import { labelEventWithin, readTimeline } from '../../src/pipeline/sequence-data.ts';
import { prepareSequenceData } from '../../src/pipeline/sequence.ts';
import { splitStrata } from '../../src/pipeline/preprocess.ts';
import { type SequenceEncoding, sequenceRow } from '../../src/pipeline/sequence-encoding.ts';
import type { PreprocessingState } from '../../src/pipeline/preprocess.ts';

const pbc = defaultModel('pbc-mortality');
const pbcPath = path.join(datasetsDir, pbc.dataset);
const sequenceOptions = pbc.options.sequence!;
const rule = sequenceOptions.eventWithin!;

describe('labelling visits by an event within a horizon', () => {
  const csv = ['id,day,futime,status', 'a,0,1000,2', 'a,400,1000,2', 'b,0,500,0', 'c,0,2000,1', 'c,1500,2000,1', 'd,0,730,2'].join('\n');

  it('labels death within the window yes, follow-up past it no, and leaves censored windows (transplant included) unlabelled', () => {
    const dataset = parseCsv(csv);
    const { dataset: labelled, censored } = labelEventWithin(dataset, readTimeline(dataset, { id: 'id', time: 'day' }), rule, 'died');
    const labels = Array.from({ length: labelled.rowCount }, (_, row) => recordAt(labelled, row).died ?? null);
    // a: death at 1000 is after day 0's window (730) but inside day 400's; b: censored alive at 500;
    // c: transplant at 2000 censors the window of day 1500 (to 2230); d: death on the last day of the window.
    assert.deepEqual(labels, ['no', 'yes', null, 'no', null, 'yes']);
    assert.equal(censored, 2);
  });

  it('on pbcseq: no labelled visit has a window that ends censored', async () => {
    const dataset = await readCsvFile(pbcPath);
    const { dataset: labelled, censored } = labelEventWithin(dataset, readTimeline(dataset, sequenceOptions), rule, 'died');
    let checked = 0;
    for (let row = 0; row < labelled.rowCount; row++) {
      const { day, futime, status, died } = recordAt(labelled, row) as Record<string, number | string | null>;
      const windowEnd = (day as number) + rule.horizon;
      if (died === 'no') assert.ok((futime as number) >= windowEnd, `row ${row}: a "no" must be followed past its window`);
      if (died === 'yes') assert.ok(status === 2 && (futime as number) <= windowEnd, `row ${row}: a "yes" must be a death within its window`);
      if (died === null) assert.ok(status !== 2 && (futime as number) < windowEnd, `row ${row}: unlabelled only when follow-up ends inside the window without death`);
      checked++;
    }
    assert.equal(checked, 1945);
    assert.ok(censored > 100 && censored < 1945, `censored windows: ${censored}`);
  });
});

describe('reading longitudinal files', () => {
  const refusal = (csv: string, options: { id: string; time: string }) => {
    try {
      readTimeline(parseCsv(csv), options);
    } catch (error) {
      assert.ok(error instanceof PipelineError);
      return { code: error.code, message: error.message };
    }
    assert.fail('expected a refusal');
  };

  it('refuses an absent sequence column and a time that is not a number, with a code', () => {
    assert.deepEqual(refusal('id,day,x\n1,0,2\n', { id: 'patient', time: 'day' }).code, 'BAD_OPTION');
    assert.match(refusal('id,day,x\n1,0,2\n', { id: 'id', time: 'visit' }).message, /sequence column visit .*not in the data/);
    const time = refusal('id,day,x\n1,0,2\n1,later,3\n', { id: 'id', time: 'day' });
    assert.deepEqual(time, { code: 'BAD_DATA', message: 'The visit time day must be a number on every row; row 2 has "later".' });
  });
});

describe('encoding a history of visits', () => {
  const state: PreprocessingState = {
    kind: 'tabular',
    features: [{ kind: 'numeric', name: 'x', median: 5, mean: 5, std: 2, min: 0, max: 10, bins: { edges: [], shares: [1] } }],
    columns: ['x'],
  };
  const encoding: SequenceEncoding = { id: 'id', time: 'day', steps: 3, width: 4, gapScale: 30, staticFeatures: [], description: '' };

  it('gives each visit its value, a missing indicator, the gap since the previous visit and a marker; pads earlier steps with zeros', () => {
    const row = Array.from(sequenceRow(encoding, state, [{ time: 0, values: [7] }, { time: 30, values: [null] }]));
    // padding | x = 7 -> 1, present, first visit (gap 0) | x missing -> median -> 0, indicator 1, gap 30 / 30
    assert.deepEqual(row, [0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1]);
  });

  it('keeps the last visits and measures the first kept gap from the visit before it', () => {
    const visits = [0, 10, 40, 100].map((time) => ({ time, values: [5] }));
    const row = Array.from(sequenceRow(encoding, state, visits));
    assert.deepEqual(row, [0, 0, 10 / 30, 1, 0, 0, 1, 1, 0, 0, 2, 1].map(Math.fround));
  });
});

describe('a GRU on pbcseq against logistic regression on the last visit', () => {
  let result: TrainingResult;
  before(async () => {
    const featureSpec = await readFeatureSpec(path.join(datasetsDir, pbc.featureSpec));
    // Few epochs and resamples keep the test fast; the shipped model trains fully (scripts/train-defaults.ts).
    result = await trainModel({ ...pbc.options, data: { csvPath: pbcPath }, featureSpec, training: { epochs: 4 }, baselineTraining: { epochs: 20 }, bootstrap: { resamples: 200 } });
  });

  it('splits by patient: no patient has visits on two sides', async () => {
    const dataset = await readCsvFile(pbcPath);
    const patients = (rows: number[]) => new Set(rows.map((row) => recordAt(dataset, row).id));
    const [train, validation, test] = [patients(result.split.train), patients(result.split.validation), patients(result.split.test)];
    for (const [a, b] of [[train, validation], [train, test], [validation, test]] as const) assert.deepEqual([...a].filter((id) => b.has(id)), []);
    assert.ok(test.size >= 30 && train.size >= 150, `patients: ${train.size} / ${validation.size} / ${test.size}`);
    assert.equal(result.split.groupedBy, 'id');
  });

  it('trains a GRU over the visits, with the gap as an input and no time, follow-up or status column among the features', () => {
    assert.ok(result.architecture.layers.some((layer) => layer.startsWith('GRU(')), result.architecture.layers.join(', '));
    const features = result.features.map((feature) => feature.name);
    for (const excluded of ['id', 'day', 'futime', 'status', 'trt']) assert.ok(!features.includes(excluded), `${excluded} is not a feature`);
    for (const lab of ['bili', 'albumin', 'protime']) assert.ok(features.includes(lab), `${lab} is a feature`);
    assert.equal(result.sequence!.steps, 16);
    assert.deepEqual(result.sequence!.staticFeatures.sort(), ['age', 'sex']);
    assert.ok(result.sequence!.gapScale > 100, `mean gap ${result.sequence!.gapScale} days`);
  });

  it('reports both the GRU and the baseline with patient-level intervals, and says plainly whether it beats it', () => {
    const card = buildModelCard(result, pbc.card);
    const auroc = card.performance.headline.find((figure) => figure.metric === 'auroc')!;
    assert.ok(auroc.model !== null && auroc.baseline !== null && auroc.modelInterval && auroc.baselineInterval, JSON.stringify(auroc));
    assert.ok(auroc.modelInterval[0] <= auroc.model! && auroc.model! <= auroc.modelInterval[1]);
    assert.equal(card.performance.baseline.kind, 'binary');
    assert.match(card.performance.comparison, /logistic regression on the last visit/);
    assert.ok(result.evaluation.comparison.differenceInterval, 'the difference has an interval');
    const markdown = renderModelCardMarkdown(card);
    assert.match(markdown, /## Sequence model/);
    assert.match(markdown, /have no label: they are history for later visits, never examples/);
    assert.match(markdown, /resamples of the test patients/);
  });

  it('serves each test visit from the patient\'s visits so far exactly as it was evaluated', async () => {
    const serving = await loadServingModel(result);
    const dataset = await readCsvFile(pbcPath);
    const records = Array.from({ length: dataset.rowCount }, (_, row) => recordAt(dataset, row));
    const histories = result.split.test.map((row) => {
      const own = records.filter((record) => record.id === records[row]!.id && (record.day as number) <= (records[row]!.day as number));
      return { visits: own.map((record) => ({ time: record.day as number, values: record })) };
    });
    const outputs = await serving.outputs(serving.encode(histories).rows);
    const labels = result.split.test.map((row) => (records[row]!.futime as number) <= (records[row]!.day as number) + rule.horizon && records[row]!.status === 2 ? 1 : 0);
    const metrics = computeMetrics({ kind: 'binary', labels: result.classLabels, threshold: result.threshold! }, labels, outputs);
    assert.equal((metrics as { auroc: number }).auroc, (result.evaluation.model.metrics as { auroc: number }).auroc);
    serving.dispose();
  });

  it('refuses a task other than binary', async () => {
    await assert.rejects(trainModel({ ...pbc.options, data: { csvPath: pbcPath }, task: 'regression' }), (error) => error instanceof PipelineError && error.code === 'BAD_OPTION');
  });
});

describe('cross-validating a sequence model (a slice of pbcseq)', () => {
  /** The visits of pbcseq's first 60 patients: enough deaths for every fold, small enough to train in seconds. */
  async function slice(): Promise<string> {
    const lines = (await readFile(pbcPath, 'utf8')).trim().split('\n');
    return [lines[0]!, ...lines.slice(1).filter((line) => Number(line.split(',')[0]) <= 60)].join('\n');
  }
  const options = async () => ({
    ...pbc.options,
    // Four visits and four units: the GRU unrolls over fewer steps, so each fold trains in a second or two.
    sequence: { ...sequenceOptions, steps: 4, units: 4 },
    data: { csvText: await slice() },
    featureSpec: await readFeatureSpec(path.join(datasetsDir, pbc.featureSpec)),
    training: { epochs: 2 },
    baselineTraining: { epochs: 10 },
    bootstrap: { resamples: 50 },
  });

  it('folds by patient: no patient\'s visits are on two sides of any fold', async () => {
    const { prepared } = prepareSequenceData(parseCsv(await slice()), { ...pbc.options, sequence: sequenceOptions, data: { csvText: '' } });
    const groups = prepared.groups!;
    let folds = 0;
    await crossValidate({ folds: 4, repeats: 2 }, { kind: 'binary', labels: prepared.labels, threshold: 0.5 }, groups, splitStrata(prepared), 'id', 42, async (split) => {
      const patients = (positions: number[]) => new Set(positions.map((position) => groups[position]!));
      const [train, validation, test] = [patients(split.train), patients(split.validation), patients(split.test)];
      for (const [a, b] of [[train, validation], [train, test], [validation, test]] as const) assert.deepEqual([...a].filter((id) => b.has(id)), []);
      assert.equal(split.train.length + split.validation.length + split.test.length, groups.length);
      folds++;
      return { actual: split.test.map((position) => prepared.targets[position]!), model: split.test.map(() => [0.5]), baseline: split.test.map(() => [0.5]) };
    }, 'none');
    assert.equal(folds, 8);
  });

  it('reports each metric\'s mean and spread over the folds for the GRU and the last-visit baseline, then trains the stored model', async () => {
    const events = new Set<string>();
    const result = await trainModel({ ...(await options()), crossValidation: { folds: 2, repeats: 2 }, onProgress: (event) => event.fold && events.add(event.fold) });
    const cv = result.crossValidation!;
    assert.deepEqual([cv.folds, cv.repeats, cv.groupedBy], [2, 2, 'id']);
    assert.deepEqual([...events].sort(), ['1/4', '2/4', '3/4', '4/4']);
    for (const metric of ['auroc', 'brier']) {
      const { model, baseline } = cv.metrics[metric]!;
      assert.ok(model && baseline, metric);
      assert.equal(model.folds, 4, `${metric}: every fold scored`);
      assert.ok(model.min <= model.mean && model.mean <= model.max && model.sd >= 0, JSON.stringify(model));
    }
    assert.ok(cv.metrics.coverage!.model!.mean > 0.5, 'conformal coverage measured on each held-out fold');
    assert.match(cv.statement, /^2-fold cross-validation, repeated 2 times, folds by id .*: AUROC [0-9.]+ ± [0-9.]+ \(SD over 4 folds\) for the model, [0-9.]+ ± [0-9.]+ \(SD over 4 folds\) for its baseline \(logistic regression on the last visit\)\.$/);
    // The stored model is the GRU trained on the usual split, its card showing both.
    assert.ok(result.architecture.layers.some((layer) => layer.startsWith('GRU(')));
    assert.match(renderModelCardMarkdown(buildModelCard(result, pbc.card)), /## Cross-validation[\s\S]*logistic regression on the last visit/);
  });
});
