import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, it } from 'node:test';
import { createTestDatabase } from '../support/test-database.ts';

/*
 * Every training option of `npm run train` through the command line itself
 * (hidden data sets are run through it), in as few processes as possible: each
 * costs seconds of start-up. The fixture is 60 patients of pbcseq with a
 * death-within-2-years label and a column that leaks it (see fixtures/README.md).
 * The trainings stop at --max-epochs 10: what is checked is that each option
 * reaches the report and the card, which a full-length training shows no better.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const database = await createTestDatabase();
after(() => database.drop());
const visits = path.join(root, 'test/models/fixtures/pbc-visits.csv');
const common = ['--data', visits, '--target', 'death_within_2y', '--task', 'binary', '--positive-class', 'yes', '--seed', '5'];

/** Runs scripts/models.ts with the arguments on the test database. */
async function models(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/models.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH!, DATA_DIR: database.dataDir, ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

it('refuses a probable leak, naming the column, with no stack trace and nothing stored', async () => {
  const refused = await models('train', ...common, '--name', 'pbc-leak');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /Probable target leak: "followup_left" \(AUROC 1\.000\)/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(refused.stdout, /Stored pbc-leak/);
});

it('passes --max-epochs, --group, --cv, --threshold, --coverage, --no-calibrate, --missing, --drop-duplicates, --accept-leak, --description and --promote through to the report and the stored card', async () => {
  const description = 'Two-year mortality in PBC, options test';
  const trained = await models(
    'train', ...common, '--name', 'pbc-options', '--max-epochs', '10',
    '--group', 'id', '--cv', '2', '--threshold', 'youden', '--coverage', '0.8', '--no-calibrate', '--missing', 'drop-rows',
    '--drop-duplicates', '--accept-leak', 'followup_left', '--description', description, '--promote',
  );
  assert.equal(trained.code, 0, trained.stderr);
  const report = trained.stdout;
  assert.match(report, /^pbc-options model: epoch \d+\/10,/m, '--max-epochs 10');
  assert.doesNotMatch(report, /model: epoch \d+\/(?!10,)\d+/, '--max-epochs: the folds\' networks too');
  assert.match(report, /id: dropped: groups the rows for splitting/, '--group');
  assert.match(report, /^pbc-options fold 2\/2 model: epoch/m, '--cv 2: two folds');
  assert.match(report, /^2-fold cross-validation, folds by id \(one group's rows never on both sides\): AUROC/m, '--cv folds by --group');
  assert.match(report, /^Threshold: Youden's J/m, '--threshold youden');
  assert.match(report, /^Prediction sets at 80% nominal coverage/m, '--coverage 0.8');
  assert.doesNotMatch(report, /chosen among none|Expected calibration error \(ECE, 10 equal-width bins\) on the test split/, '--no-calibrate: no recalibration');
  assert.match(report, /imputation: rows with any missing feature value are dropped/, '--missing drop-rows');
  assert.match(report, /19 row\(s\) dropped for a missing feature value \(policy drop-rows\)/);
  assert.match(report, /duplicates: identical rows are dropped, keeping the first/, '--drop-duplicates');
  assert.match(report, /"followup_left" alone predicts "death_within_2y" with AUROC 1\.000; accepted as known before the outcome/, '--accept-leak');
  assert.match(report, /Stored pbc-options version 1 \(PRODUCTION\)/, '--promote');

  const card = await models('card', 'pbc-options');
  assert.equal(card.code, 0, card.stderr);
  assert.match(card.stdout, new RegExp(`\\*\\*Primary use:\\*\\* ${description}`), '--description');
  assert.match(card.stdout, /whole groups of id to one side/);
  assert.match(card.stdout, /^## Cross-validation\n\n2-fold cross-validation, folds by id/m);
  assert.match(card.stdout, /predicted at a probability of [\d.]+ or more \(threshold Youden's J/);
  assert.match(card.stdout, /Prediction sets at 80% nominal coverage/);
  assert.match(card.stdout, /Policy: rows with any missing feature value are dropped\. 22 row\(s\) were dropped for an unusable target, 0 as duplicates, 19 for missing values/);
  assert.doesNotMatch(card.stdout, /Expected calibration error \(ECE, 10 equal-width bins\) on the test split: [\d.]+ before/);
});

it('trains a sequence model through the command line, split by patient, against the last-visit baseline', async () => {
  const trained = await models('train', ...common, '--name', 'pbc-visits', '--max-epochs', '10', '--sequence-id', 'id', '--sequence-time', 'day', '--exclude', 'followup_left');
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /followup_left: dropped: excluded by the user/);
  assert.match(trained.stdout, /^Test split \(\d+ rows\): accuracy [\d.]+, auroc [\d.]+/m);
  // The three verdicts of compare (src/pipeline/evaluate.ts); "does not clearly beat" comes after "scores higher than its baseline (...)".
  assert.match(trained.stdout, /(beats|does not beat|scores higher than) its baseline \(logistic regression on the last visit\)/);
  assert.match(trained.stdout, /as the mean of each test patient's share/, 'coverage resampled by patient');
  assert.match(trained.stdout, /Stored pbc-visits version 1 \(CANDIDATE\)/);
});
