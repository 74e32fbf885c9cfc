import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { createRandom } from '../../src/pipeline/random.ts';
import { chooseThreshold, describeConformal, fitConformal, measureConformal, parseThresholdRule, predictionSetIndices } from '../../src/pipeline/uncertainty.ts';

describe('decision threshold by a stated rule', () => {
  // Scores of 10 negatives (0.05..0.50) and 10 positives (0.30..0.75): they overlap in the middle.
  const labels = [...Array(10).fill(0), ...Array(10).fill(1)];
  const scores = [...Array.from({ length: 10 }, (_, i) => 0.05 + i * 0.05), ...Array.from({ length: 10 }, (_, i) => 0.3 + i * 0.05)];

  it("maximizes Youden's J, or keeps the sensitivity asked for at the highest threshold", () => {
    const youden = chooseThreshold('youden', labels, scores);
    // At 0.55: sensitivity 0.5... at 0.3: sensitivity 1, specificity 0.5 -> J 0.5; at 0.55 J = 0.5 too; the first best (higher threshold) is kept.
    assert.ok(Math.abs(youden.threshold - 0.55) < 1e-9, String(youden.threshold));
    assert.match(youden.rule, /Youden's J .*\(sensitivity 0\.500, specificity 1\.000 on the validation split\)/);
    const sensitive = chooseThreshold({ sensitivity: 0.9 }, labels, scores);
    assert.ok(Math.abs(sensitive.threshold - 0.35) < 1e-9, String(sensitive.threshold));
    assert.match(sensitive.rule, /sensitivity at least 0\.9 .*\(sensitivity 0\.900, specificity 0\.600/);
    assert.deepEqual(chooseThreshold(0.5, labels, scores), { threshold: 0.5, rule: 'fixed at 0.5' });
  });

  it('parses the rules of the command line and refuses others', () => {
    assert.equal(parseThresholdRule('youden'), 'youden');
    assert.deepEqual(parseThresholdRule('sensitivity=0.9'), { sensitivity: 0.9 });
    assert.equal(parseThresholdRule('0.3'), 0.3);
    for (const bad of ['1.5', 'sensitivity=2', 'best']) assert.throws(() => parseThresholdRule(bad), (error) => error instanceof PipelineError && error.code === 'BAD_OPTION');
  });
});

describe('split-conformal prediction', () => {
  it('gives intervals whose coverage on new data is close to the nominal level', () => {
    const random = createRandom(4);
    const draw = (n: number) => Array.from({ length: n }, () => random.next() * 2 - 1 + random.next() * 2 - 1);
    const calibration = draw(500);
    const conformal = fitConformal('regression', calibration.map(() => [0]), calibration, 0.9);
    assert.equal(conformal.calibrationRows, 500);
    const fresh = draw(4000);
    const measured = measureConformal(conformal, 'regression', fresh.map(() => [0]), fresh);
    assert.ok(Math.abs(measured.test!.coverage - 0.9) < 0.03, `coverage ${measured.test!.coverage}`);
    assert.ok(Math.abs(measured.test!.meanWidth! - 2 * conformal.quantile) < 1e-9);
  });

  it('covers at the nominal level even when the model is more accurate than that: sets may be empty', () => {
    const random = createRandom(9);
    // Confident, calibrated outputs: the model is right about 93% of the time, more often than the 90% asked for.
    const draw = (rows: number) =>
      Array.from({ length: rows }, () => {
        const p = random.next() < 0.5 ? random.next() ** 8 : 1 - random.next() ** 8;
        return { output: [p], label: random.next() < p ? 1 : 0 };
      });
    const [calibration, test] = [draw(2000), draw(20000)];
    const conformal = fitConformal('binary', calibration.map((row) => row.output), calibration.map((row) => row.label), 0.9);
    const measured = measureConformal(conformal, 'binary', test.map((row) => row.output), test.map((row) => row.label));
    const accuracy = test.filter((row) => (row.output[0]! >= 0.5 ? 1 : 0) === row.label).length / test.length;
    assert.ok(accuracy > 0.92, String(accuracy));
    assert.ok(Math.abs(measured.test!.coverage - 0.9) < 0.02, `coverage ${measured.test!.coverage}`);
    assert.ok(measured.test!.meanSetSize! < 1);
  });

  it('builds sets from the quantile of 1 - p(true class)', () => {
    const outputs = [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.55, 0.45]];
    const conformal = fitConformal('multiclass', outputs, [0, 1, 1, 0], 0.5);
    // Scores 0.1, 0.6, 0.2, 0.45; the ceil(5 x 0.5) = 3rd smallest is 0.45.
    assert.ok(Math.abs(conformal.quantile - 0.45) < 1e-12, String(conformal.quantile));
    assert.deepEqual(predictionSetIndices({ quantile: 0.5 }, [0.5, 0.5]), [0, 1]);
    assert.deepEqual(predictionSetIndices(conformal, [0.9, 0.1]), [0]);
    assert.deepEqual(predictionSetIndices({ quantile: 0.2 }, [0.3, 0.7]), [], 'no class reaches 0.8: an empty set');
  });
});

describe('split-conformal coverage of rows in groups (a patient\'s visits)', () => {
  it('measures the coverage with an interval over resampled patients and the mean of each patient\'s share, and says whether the target is met', () => {
    const conformal = fitConformal('binary', [[0.1], [0.2], [0.9]], [0, 0, 1], 0.5);
    // Patient x: two visits, one covered; y: two covered; z: none covered.
    const outputs = [[0.1], [0.9], [0.2], [0.8], [0.95]];
    const actual = [0, 0, 0, 1, 0];
    const groups = ['x', 'x', 'y', 'y', 'z'];
    const measured = measureConformal({ ...conformal, quantile: 0.5 }, 'binary', outputs, actual, { resamples: 200, level: 0.95, seed: 1, groups }).test!;
    assert.equal(measured.coverage, 3 / 5);
    assert.equal(measured.groupCoverage, (1 / 2 + 1 + 0) / 3);
    assert.ok(measured.interval!.lower <= 0.6 && measured.interval!.upper >= 0.6 && measured.interval!.lower >= 0 && measured.interval!.upper <= 1, JSON.stringify(measured.interval));
    const text = (coverage: number, lower: number, upper: number) =>
      describeConformal({ kind: 'set', coverage: 0.9, quantile: 0.5, calibrationRows: 10, test: { coverage, meanSetSize: 1, meanWidth: null, interval: { lower, upper, resamples: 200 } } });
    assert.match(describeConformal({ kind: 'set', coverage: 0.9, quantile: 0.5, calibrationRows: 400, source: 'out-of-fold', test: null }), /cross-conformal, calibrated on the out-of-fold scores of the 400 training and validation rows, each under a network cross-fitted without it/);
    assert.match(text(0.91, 0.88, 0.93), /split-conformal, calibrated on the 10 validation rows.*0\.910 \(95% bootstrap CI 0\.880 to 0\.930, rows resampled\).*the target, within 0\.03 of 0\.9, is met\.$/);
    const grouped = describeConformal({ ...conformal, test: { ...measured, interval: { lower: 0.5, upper: 0.7, resamples: 200 } } });
    assert.match(grouped, /0\.600 \(95% bootstrap CI 0\.500 to 0\.700, patients resampled\), 0\.500 as the mean of each test patient's share/);
    assert.match(describeConformal({ ...conformal, test: { coverage: 0.9, meanSetSize: 1, meanWidth: null } }, 100), /0\.900 \(95% Wilson interval 0\.826 to 0\.945, rows taken as independent\)/);
    assert.match(text(0.89, 0.8, 0.97), /is met by the estimate, though its interval reaches beyond\.$/);
    assert.match(text(0.865, 0.8, 0.92), /is not met by the estimate, though its interval reaches it\.$/);
    assert.match(text(0.7, 0.6, 0.8), /is not met\.$/);
  });
});
