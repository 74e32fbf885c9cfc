import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { datasetFromRecords, parseCsv, readCsvFile, sha256Hex } from '../../src/pipeline/csv.ts';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { baselineRow, defaultSplit, encodeRow, encodeRows, fitPreprocessing, splitStrata, stratifiedSplit } from '../../src/pipeline/preprocess.ts';
import { parseFeatureSpec } from '../../src/pipeline/feature-spec.ts';
import { assessDataQuality, renderQualityReport } from '../../src/pipeline/quality.ts';
import { mean, median } from '../../src/pipeline/stats.ts';
import { fixturePath } from './helpers.ts';

/** A data set where the training and test rows differ, so that leakage would show. */
function leakageData() {
  const records = Array.from({ length: 100 }, (_, i) => ({
    // Every fifth row is huge: which of them land in training decides the fitted mean.
    lab: i % 5 === 0 ? 1000 + i : i % 7 === 0 ? 'NA' : i,
    smoker: i % 3 === 0 ? 'yes' : i % 11 === 0 ? '' : 'no',
    outcome: i % 4 === 0 ? 'event' : 'none',
  }));
  return assessDataQuality(datasetFromRecords(records), { target: 'outcome', task: 'binary', duplicates: 'keep' });
}

describe('split and preprocessing', () => {
  it('reads, checks, splits and encodes 300,000 rows in linear time, without spreading values into calls', () => {
    const rows = 300_000;
    const lines = Array.from({ length: rows }, (_, i) => `${(i * 7919) % 100_003},${i % 3 === 0 ? 'a' : 'b'},${i % 4 === 0 ? 'yes' : 'no'}`);
    const prepared = assessDataQuality(parseCsv(`x,group,outcome\n${lines.join('\n')}\n`), { target: 'outcome', task: 'binary', duplicates: 'keep' });
    const split = stratifiedSplit(splitStrata(prepared), defaultSplit, 1);
    assert.equal(split.train.length + split.validation.length + split.test.length, rows);
    const state = fitPreprocessing(prepared, split.train);
    if (state.kind !== 'tabular' || state.features[0]!.kind !== 'numeric') throw new Error('numeric x expected');
    assert.equal(state.features[0]!.max, 100_002);
    assert.equal(encodeRows(state, prepared.values, split.test).values.length, split.test.length * 3);
  });

  it('fits means, medians and levels on the training rows only', () => {
    const prepared = leakageData();
    const split = stratifiedSplit(splitStrata(prepared), defaultSplit, 5);
    const state = fitPreprocessing(prepared, split.train);
    assert.equal(state.kind, 'tabular');
    if (state.kind !== 'tabular') return;
    const [lab, smoker] = state.features;
    assert.equal(lab?.kind, 'numeric');
    if (lab?.kind !== 'numeric' || smoker?.kind !== 'categorical') throw new Error('unexpected feature kinds');

    const labValues = prepared.values[0] as Float64Array;
    const trainLab = split.train.map((p) => labValues[p]!).filter((v) => !Number.isNaN(v));
    const trainMedian = median(trainLab);
    const filled = split.train.map((p) => (Number.isNaN(labValues[p]!) ? trainMedian : labValues[p]!));
    const allLab = [...labValues].filter((v) => !Number.isNaN(v));
    assert.equal(lab.median, trainMedian);
    assert.ok(Math.abs(lab.mean - mean(filled)) < 1e-9);
    assert.notEqual(lab.median, median(allLab), 'the fixture must make train and all rows differ');
    assert.ok(Math.abs(lab.mean - mean(allLab)) > 1, 'the fixture must make train and all rows differ');
    assert.equal(lab.min, Math.min(...trainLab));

    const trainSmoker = split.train.map((p) => prepared.values[1]![p]);
    const shareYes = trainSmoker.filter((v) => v === 'yes').length / trainSmoker.length;
    const filledYes = (trainSmoker.filter((v) => v === 'yes').length + (smoker.mode === 'yes' ? trainSmoker.filter((v) => v === null).length : 0)) / trainSmoker.length;
    assert.deepEqual(smoker.levels, ['no', 'yes']);
    assert.equal(smoker.mode, 'no');
    assert.ok(Math.abs(smoker.frequencies[1]! - filledYes) < 1e-12 && shareYes > 0);
  });

  it('imputes, standardizes and one-hot encodes with the fitted statistics', () => {
    const prepared = leakageData();
    const state = fitPreprocessing(prepared, stratifiedSplit(splitStrata(prepared), defaultSplit, 5).train);
    if (state.kind !== 'tabular') throw new Error('tabular expected');
    const lab = state.features[0]!;
    if (lab.kind !== 'numeric') throw new Error('numeric expected');
    assert.deepEqual(state.columns, ['lab', 'smoker=no', 'smoker=yes']);
    const [standardized, ...oneHot] = encodeRow(state, [lab.mean + 2 * lab.std, 'yes']);
    assert.ok(Math.abs(standardized! - 2) < 1e-12);
    assert.deepEqual(oneHot, [0, 1]);
    // Missing: the training median, and the training mode.
    assert.deepEqual(encodeRow(state, [null, null]), [(lab.median - lab.mean) / lab.std, 1, 0]);
    // A level never seen in training is none of the known levels.
    assert.deepEqual(encodeRow(state, [lab.mean, 'unknown']), [0, 0, 0]);
    assert.deepEqual(baselineRow(state).slice(0, 1), [0]);
  });

  it('keeps class proportions in every split', () => {
    const prepared = leakageData(); // 25 events in 100 rows
    const split = stratifiedSplit(splitStrata(prepared), { validation: 0.2, test: 0.2 }, 11);
    const events = (positions: number[]) => positions.filter((p) => prepared.targets[p] === 1).length;
    assert.deepEqual([split.train.length, split.validation.length, split.test.length], [60, 20, 20]);
    assert.deepEqual([events(split.train), events(split.validation), events(split.test)], [15, 5, 5]);
    assert.deepEqual([...split.train, ...split.validation, ...split.test].sort((a, b) => a - b), prepared.rows.map((_, p) => p));
  });

  it('stratifies regression by quantile bins of the target', () => {
    const strata = splitStrata({ labels: null, targets: [50, 10, 40, 20, 30, 60, 70, 80, 90, 100] } as never, 5);
    assert.deepEqual(strata, [2, 0, 1, 0, 1, 2, 3, 3, 4, 4]);
  });

  it('gives the same split for the same seed and another for another seed', () => {
    const strata = Array.from({ length: 200 }, (_, i) => i % 3);
    assert.deepEqual(stratifiedSplit(strata, defaultSplit, 42), stratifiedSplit(strata, defaultSplit, 42));
    assert.notDeepEqual(stratifiedSplit(strata, defaultSplit, 42).test, stratifiedSplit(strata, defaultSplit, 43).test);
  });

  it('refuses split shares that leave too little to train', () => {
    assert.throws(() => stratifiedSplit([0, 1], { validation: 0.4, test: 0.4 }, 1), (e: unknown) => e instanceof PipelineError && e.code === 'BAD_OPTION');
  });
});

describe('data quality', () => {
  const messy = async () => assessDataQuality(await readCsvFile(fixturePath('messy-clinical.csv')), { target: 'readmitted', task: 'binary' });

  it('counts missing tokens, drops constant and unusable columns, counts duplicates and unusable targets', async () => {
    const { report, features } = await messy();
    const column = (name: string) => report.columns.find((c) => c.name === name)!;
    // bmi holds "", NA, N/A, ?, null and NaN in 15 rows; smoking "", NA, ? in 10.
    assert.equal(column('bmi').missing, 15);
    assert.equal(column('bmi').type, 'numeric');
    assert.equal(column('smoking').missing, 10);
    assert.equal(column('systolic_bp').missing, 6);
    assert.equal(column('site').type, 'constant');
    assert.equal(column('site').role, 'dropped');
    assert.match(column('patient_id').treatment, /identifier/);
    assert.match(column('ward_note').treatment, /12 levels/);
    assert.equal(column('ward_note').role, 'dropped');
    assert.equal(report.dropped.unusableTarget, 3);
    assert.equal(report.duplicateRows, 2);
    assert.equal(report.dropped.duplicates, 0, 'duplicates are reported, kept unless asked');
    assert.equal(report.usableRows, 162 - 3);
    assert.deepEqual(
      features.map((f) => `${f.name}:${f.kind}`),
      ['age:numeric', 'sex:categorical', 'bmi:numeric', 'systolic_bp:numeric', 'smoking:categorical', 'cholesterol:numeric'],
    );
    assert.equal(report.positiveClass, 'yes');
    assert.deepEqual(report.classBalance?.map((c) => c.label), ['no', 'yes']);
    assert.ok(column('bmi').outliers! >= 0 && report.rules.outliers.includes('1.5 IQR'));
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'the report is plain JSON (no NaN, no undefined)');
  });

  it('one-hot encodes a small text column with levels from training', async () => {
    const prepared = await messy();
    const state = fitPreprocessing(prepared, stratifiedSplit(splitStrata(prepared), defaultSplit, 1).train);
    assert.deepEqual(state.columns, ['age', 'sex=F', 'sex=M', 'bmi', 'systolic_bp', 'smoking=current', 'smoking=former', 'smoking=never', 'cholesterol']);
  });

  it('drops rows with a non-numeric regression target and counts them', () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ x: (i * 37) % 100, y: i === 3 ? 'high' : i === 4 ? '' : i * 2 }));
    const { report, rows } = assessDataQuality(datasetFromRecords(records), { target: 'y', task: 'regression' });
    assert.equal(report.dropped.unusableTarget, 2);
    assert.equal(rows.length, 28);
    assert.ok(!rows.includes(3) && !rows.includes(4));
  });

  it('can drop rows with missing values instead of imputing', async () => {
    const dataset = await readCsvFile(fixturePath('messy-clinical.csv'));
    const { report } = assessDataQuality(dataset, { target: 'readmitted', task: 'binary', missing: 'drop-rows' });
    assert.ok(report.dropped.missingFeatures > 0);
    assert.match(report.rules.imputation, /dropped/);
  });

  it('renders a plain-text report', async () => {
    const text = renderQualityReport((await messy()).report);
    assert.match(text, /Rows: 162 read, 159 usable/);
    assert.match(text, /bmi\s+numeric\s+15/);
    assert.match(text, /dropped: constant \(A\)/);
    assert.match(text, /Class balance: no \d+ .*; positive class: yes/);
  });

  it('fingerprints the CSV bytes', async () => {
    const dataset = await readCsvFile(fixturePath('messy-clinical.csv'));
    assert.equal(dataset.sha256, sha256Hex(await readFile(fixturePath('messy-clinical.csv'))));
  });
});

describe('bad files and options give clear errors', () => {
  const fails = (code: string, pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof PipelineError, `expected a PipelineError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
  const small = 'age,sex,outcome\n' + Array.from({ length: 30 }, (_, i) => `${30 + i},${i % 2 ? 'F' : 'M'},${i % 3 ? 'no' : 'yes'}`).join('\n');

  it('an empty file', () => {
    assert.throws(() => parseCsv('', 'empty.csv'), fails('BAD_DATA', /empty\.csv is empty/));
    assert.throws(() => parseCsv('age,outcome\n', 'header-only.csv'), fails('BAD_DATA', /no data rows/));
  });

  it('a file without a header row', () => {
    assert.throws(() => parseCsv('1,2,3\n4,5,6\n', 'numbers.csv'), fails('BAD_DATA', /no header row/));
  });

  it('a malformed file', () => {
    assert.throws(() => parseCsv('a,b\n1,2,3\n', 'ragged.csv'), fails('BAD_DATA', /not valid CSV/));
    assert.throws(() => parseCsv('a,a\n1,2\n', 'twice.csv'), fails('BAD_DATA', /more than once: a/));
  });

  it('a missing file', async () => {
    await assert.rejects(readCsvFile('/nonexistent/data.csv'), fails('BAD_DATA', /Cannot read/));
  });

  it('an unknown target column, naming the columns there are', () => {
    assert.throws(() => assessDataQuality(parseCsv(small), { target: 'death', task: 'binary' }), fails('BAD_OPTION', /"death" is not in .*age, sex, outcome/));
  });

  it('a bad task name', () => {
    assert.throws(() => assessDataQuality(parseCsv(small), { target: 'outcome', task: 'clustering' as never }), fails('BAD_OPTION', /Unknown task "clustering"/));
  });

  it('no usable rows', () => {
    const blanks = 'age,outcome\n' + Array.from({ length: 30 }, (_, i) => `${i},NA`).join('\n');
    assert.throws(() => assessDataQuality(parseCsv(blanks), { target: 'outcome', task: 'binary' }), fails('BAD_DATA', /Only 0 usable row/));
  });

  it('too few rows to split', () => {
    const few = 'age,outcome\n' + Array.from({ length: 10 }, (_, i) => `${i},${i % 2}`).join('\n');
    assert.throws(() => assessDataQuality(parseCsv(few), { target: 'outcome', task: 'binary' }), fails('BAD_DATA', /at least 20 are needed/));
  });

  it('a single class', () => {
    const single = 'age,outcome\n' + Array.from({ length: 30 }, (_, i) => `${i},no`).join('\n');
    assert.throws(() => assessDataQuality(parseCsv(single), { target: 'outcome', task: 'binary' }), fails('BAD_DATA', /single class \("no"\)/));
  });

  it('three classes for a binary task', () => {
    const three = 'age,outcome\n' + Array.from({ length: 30 }, (_, i) => `${i},${['a', 'b', 'c'][i % 3]}`).join('\n');
    assert.throws(() => assessDataQuality(parseCsv(three), { target: 'outcome', task: 'binary' }), fails('BAD_DATA', /3 classes.*multiclass/));
  });

  it('an unknown positive class', () => {
    assert.throws(() => assessDataQuality(parseCsv(small), { target: 'outcome', task: 'binary', positiveClass: 'dead' }), fails('BAD_OPTION', /"dead" is not a value/));
  });

  it('an image task with the wrong pixel count', () => {
    const image = 'p0,p1,p2,label\n' + Array.from({ length: 30 }, (_, i) => `1,2,3,${i % 2}`).join('\n');
    assert.throws(() => assessDataQuality(parseCsv(image), { target: 'label', task: 'image', image: { width: 2, height: 2 } }), fails('BAD_OPTION', /2x2 = 4 pixel columns, but 3/));
    assert.throws(() => assessDataQuality(parseCsv(image), { target: 'label', task: 'image' }), fails('BAD_OPTION', /width and height/));
  });

  it('no usable feature column', () => {
    const constant = 'patient_id,site,outcome\n' + Array.from({ length: 30 }, (_, i) => `${i},A,${i % 2}`).join('\n');
    assert.throws(() => assessDataQuality(parseCsv(constant), { target: 'outcome', task: 'binary' }), fails('BAD_DATA', /No usable feature column/));
  });
});

describe('checks before training', () => {
  const birthWeight = () => readCsvFile(fixturePath('birth-weight.csv'));
  const refused = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof PipelineError && error.code === 'BAD_DATA', String(error));
    assert.match(error.message, pattern);
    return true;
  };

  it('refuses a column that alone predicts the target (birth weight beside "low birth weight"), naming it', async () => {
    const dataset = await birthWeight();
    assert.throws(() => assessDataQuality(dataset, { target: 'low', task: 'binary' }), refused(/Probable target leak: "bwt" \(AUROC 1\.000\)/));
    const excluded = assessDataQuality(dataset, { target: 'low', task: 'binary', exclude: ['bwt'] });
    assert.deepEqual(excluded.report.checks.probableLeaks, []);
    assert.ok(!excluded.features.some((feature) => feature.name === 'bwt'));
    const accepted = assessDataQuality(dataset, { target: 'low', task: 'binary', acceptLeaks: ['bwt'] });
    assert.deepEqual(accepted.report.checks.probableLeaks.map((leak) => [leak.column, leak.accepted]), [['bwt', true]]);
    assert.ok(accepted.report.notes.some((note) => /"bwt" alone predicts "low"/.test(note)));
  });

  it('refuses a regression target in other units or through a non-linear function', () => {
    const records = Array.from({ length: 200 }, (_, i) => {
      const glucose = 70 + ((i * 53) % 200);
      return { glucose, glucose_mmol: glucose / 18, cubed: (glucose - 150) ** 3, noise: (i * 31) % 17 };
    });
    assert.throws(() => assessDataQuality(datasetFromRecords(records), { target: 'glucose', task: 'regression' }), refused(/"glucose_mmol" \(R² 1\.000\), "cubed" \(R² 0\.9\d\d\)/));
    const clean = assessDataQuality(datasetFromRecords(records), { target: 'glucose', task: 'regression', exclude: ['glucose_mmol', 'cubed'] });
    assert.deepEqual(clean.features.map((feature) => feature.name), ['noise']);
  });

  it('drops identifiers by content, encodes whole-number codes as categories and counts no outliers in a 0/1 column', async () => {
    const { report, features } = assessDataQuality(await birthWeight(), { target: 'low', task: 'binary', exclude: ['bwt'] });
    const column = (name: string) => report.columns.find((c) => c.name === name)!;
    assert.deepEqual(report.checks.identifiers, ['PatientNumber']);
    assert.match(column('PatientNumber').treatment, /identifier by its content \(a whole number that differs on every row and runs in sequence\)/);
    assert.deepEqual(report.checks.codedCategories, ['race']);
    assert.deepEqual(features.map((f) => `${f.name}:${f.kind}`), ['age:numeric', 'race:categorical', 'smoke:numeric', 'lwt:numeric']);
    assert.equal(column('smoke').outliers, null);
    assert.match(column('smoke').treatment, /two values \(binary\): used as a number, standardized, and explained as categories \("1 rather than 0"\)/);
    // The feature specification decides where it speaks: age as categories, race as a number.
    const spec = parseFeatureSpec({ features: { race: { type: 'numeric' }, age: { type: 'categorical' } } });
    const specified = assessDataQuality(await birthWeight(), { target: 'low', task: 'binary', exclude: ['bwt'], featureSpec: spec, maxCategoryLevels: 30 });
    assert.deepEqual(specified.features.map((f) => `${f.name}:${f.kind}`), ['age:categorical', 'race:numeric', 'smoke:numeric', 'lwt:numeric']);
  });

  it('refuses impossible values by the possible range, or treats them as missing when the specification says so', async () => {
    const dataset = await readCsvFile(fixturePath('glucose-zeros.csv'));
    const range = { possibleRange: [20, 600] as [number, number], unit: 'mg/dL' };
    assert.throws(
      () => assessDataQuality(dataset, { target: 'diabetes', task: 'binary', featureSpec: parseFeatureSpec({ features: { glucose: range } }) }),
      refused(/14 value\(s\) of "glucose" lie outside its possible range 20 to 600 mg\/dL \(such as 0 in data row 1\)/),
    );
    const { report } = assessDataQuality(dataset, { target: 'diabetes', task: 'binary', featureSpec: parseFeatureSpec({ features: { glucose: { ...range, impossible: 'missing' } } }) });
    assert.deepEqual(report.checks.impossibleValues, [{ column: 'glucose', count: 14 }]);
    assert.equal(report.columns.find((c) => c.name === 'glucose')!.missing, 14);
    assert.ok(report.columns.find((c) => c.name === 'glucose')!.summary!.min >= 20);
  });

  it('warns of heavy missingness and a small minority class', async () => {
    const { report } = assessDataQuality(await readCsvFile(fixturePath('glucose-zeros.csv')), { target: 'diabetes', task: 'binary' });
    assert.deepEqual(report.checks.heavilyMissing, ['insulin']);
    assert.ok(report.notes.some((note) => /more than 40% of the values are missing in insulin/.test(note)));
    const rare = Array.from({ length: 100 }, (_, i) => ({ x: (i * 7) % 13, outcome: i % 10 === 0 ? 'event' : 'none' }));
    const imbalanced = assessDataQuality(datasetFromRecords(rare), { target: 'outcome', task: 'binary' }).report;
    assert.equal(imbalanced.checks.minorityShare, 0.1);
    assert.ok(imbalanced.notes.some((note) => /smallest class is 10\.0% of the rows/.test(note)));
  });

  it('keeps identical rows unless asked to drop them', async () => {
    const kept = assessDataQuality(await readCsvFile(fixturePath('messy-clinical.csv')), { target: 'readmitted', task: 'binary' }).report;
    const dropped = assessDataQuality(await readCsvFile(fixturePath('messy-clinical.csv')), { target: 'readmitted', task: 'binary', duplicates: 'drop' }).report;
    assert.deepEqual([kept.duplicateRows, kept.dropped.duplicates, dropped.dropped.duplicates], [2, 0, 2]);
    assert.equal(kept.usableRows - dropped.usableRows, 2);
  });
});

describe('checks before training: what the target determines, zeros, repeated identifiers, specifications', () => {
  const refused = (code: string, pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof PipelineError && error.code === code, String(error));
    assert.match(error.message, pattern);
    return true;
  };

  it('refuses a column the target determines (a low-birth-weight flag beside the weight in grams), naming it', async () => {
    const dataset = await readCsvFile(fixturePath('birth-weight.csv'));
    assert.throws(() => assessDataQuality(dataset, { target: 'bwt', task: 'regression' }), refused('BAD_DATA', /Probable target leak: "low" \(determinism 0\.9\d\d\)/));
    const accepted = assessDataQuality(dataset, { target: 'bwt', task: 'regression', acceptLeaks: ['low'] }).report;
    assert.deepEqual(accepted.checks.probableLeaks.map((leak) => [leak.column, leak.metric, leak.accepted]), [['low', 'determinism', true]]);
    assert.ok(accepted.notes.some((note) => /"low" is nearly a function of "bwt"/.test(note)));
    // Codes and flags the target does not determine pass: race, smoke.
    assert.deepEqual(assessDataQuality(dataset, { target: 'bwt', task: 'regression', exclude: ['low'] }).report.checks.probableLeaks, []);
  });

  it('refuses a grouping of the classes of a multiclass target, and keeps a column merely related to them', () => {
    const records = Array.from({ length: 150 }, (_, i) => {
      const stage = ['I', 'II', 'III'][i % 3]!;
      return { stage, advanced: stage === 'III' ? 'yes' : 'no', tumour_mm: 10 + ((i * 37) % 50) + (i % 3) * 10, site: i % 3 === 2 && i % 2 === 0 ? 'lung' : ['breast', 'skin'][i % 2]! };
    });
    assert.throws(() => assessDataQuality(datasetFromRecords(records), { target: 'stage', task: 'multiclass' }), refused('BAD_DATA', /"advanced" \(determinism 0\.9\d\d\)/));
    assert.deepEqual(assessDataQuality(datasetFromRecords(records), { target: 'stage', task: 'multiclass', exclude: ['advanced'] }).report.checks.probableLeaks, []);
  });

  it('warns of zeros where 0 is probably impossible, with no possible range given', async () => {
    const glucose = assessDataQuality(await readCsvFile(fixturePath('glucose-zeros.csv')), { target: 'diabetes', task: 'binary' }).report;
    assert.deepEqual(glucose.checks.suspectZeros.map(({ column, count }) => [column, count]), [['glucose', 14]]);
    assert.ok(glucose.notes.some((note) => /"glucose" has 14 zero\(s\) where 0 is probably impossible .*"impossible": "missing"/.test(note)));
    const records = Array.from({ length: 100 }, (_, i) => ({
      lab_x: i % 10 === 0 ? 0 : 80 + ((i * 13) % 40), // an unnamed measurement: zeros far below its other values
      pregnancies: i % 6, // a count: 0 is a value like the others
      treated: i % 2, // a flag
      outcome: (i * 7) % 11 < 4 ? 'yes' : 'no',
    }));
    const unnamed = assessDataQuality(datasetFromRecords(records), { target: 'outcome', task: 'binary' }).report;
    assert.deepEqual(unnamed.checks.suspectZeros.map(({ column, count }) => [column, count]), [['lab_x', 10]]);
    // A possible range decides instead (here it allows 0).
    const ranged = assessDataQuality(datasetFromRecords(records), { target: 'outcome', task: 'binary', featureSpec: parseFeatureSpec({ features: { lab_x: { possibleRange: [0, 500] } } }) }).report;
    assert.deepEqual(ranged.checks.suspectZeros, []);
  });

  it('drops a whole-number identifier repeated on a patient\'s rows of a file sorted by it', () => {
    const records = Array.from({ length: 90 }, (_, i) => ({ PatientNumber: 5000 + Math.floor(i / 1.5), visit_glucose: 70 + ((i * 29) % 61), outcome: i % 4 === 0 ? 'yes' : 'no' }));
    const { report, features } = assessDataQuality(datasetFromRecords(records), { target: 'outcome', task: 'binary' });
    assert.deepEqual(report.checks.identifiers, ['PatientNumber']);
    assert.match(report.columns.find((c) => c.name === 'PatientNumber')!.treatment, /identifier by its content \(a whole number of 60 values for 90 rows, in sequence down the file/);
    // Many whole-number values out of order (a lab value) stay a feature.
    assert.deepEqual(features.map((f) => f.name), ['visit_glucose']);
  });

  it('keeps a whole-number feature of a small file sorted by it, with more values than half its rows: ages in days with ties or gaps', () => {
    // Sorted by age in days: uneven gaps between the ages, and every third patient the age of the one before (or, unique, no ties).
    const csv = (ties: boolean) => {
      let age = 7300;
      const rows = Array.from({ length: 40 }, (_, i) => {
        age += ties && i % 3 === 2 ? 0 : 11 + ((i * 37) % 90);
        return `${age},${70 + ((i * 29) % 61)},${i % 4 === 0 ? 'yes' : 'no'}`;
      });
      return parseCsv(`age_days,glucose,outcome\n${rows.join('\n')}\n`);
    };
    for (const ties of [true, false]) {
      const { report, features } = assessDataQuality(csv(ties), { target: 'outcome', task: 'binary' });
      assert.deepEqual(report.checks.identifiers, [], `ties: ${ties}`);
      assert.deepEqual(features.map((f) => f.name), ['age_days', 'glucose'], `ties: ${ties}`);
    }
  });

  it('refuses a feature specification naming a column the data does not have, naming it', async () => {
    const spec = parseFeatureSpec({ features: { glucos: { possibleRange: [20, 600] }, bmi: { unit: 'kg/m2' } } });
    assert.throws(
      () => assessDataQuality(datasetFromRecords([{ glucose: 1, bmi: 2, diabetes: 'no' }]), { target: 'diabetes', task: 'binary', featureSpec: spec }),
      refused('BAD_OPTION', /The feature specification names columns that are not in .*: glucos\. Its columns are: glucose, bmi, diabetes/),
    );
  });
});
