import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, promisify } from 'node:util';
import { after, it } from 'node:test';
import { runModels } from '../../scripts/models.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const database = await createTestDatabase();
after(() => database.drop());
const messy = path.join(root, 'test/pipeline/fixtures/messy-clinical.csv');
/** The settings that point the command line at a test database. */
const settingsFor = (db: TestDatabase) => ({ DATA_DIR: db.dataDir, ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}) });
const databaseEnv = settingsFor(database);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run models -- <args>` (scripts/models.ts) in a process of its
 * own on the test database: the command line end to end. Each costs a
 * process start-up (2 s of CPU), so most commands run in the test's process
 * instead; training runs in a process of its own, so that each model is
 * trained in a fresh TensorFlow.js engine, as the command line trains it.
 */
async function modelsProcess(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/models.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH!, ...databaseEnv },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as Run;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/**
 * Runs one command as the command line does (scripts/models.ts `runModels`,
 * which its process runs), here in this process, on the test database:
 * what it prints through the console is captured, not shown.
 */
async function models(...args: string[]): Promise<Run> {
  return modelsOn(databaseEnv, ...args);
}

/** `models` with these settings in the environment instead of the test database's. */
async function modelsOn(env: Record<string, string>, ...args: string[]): Promise<Run> {
  const saved = { DATA_DIR: process.env.DATA_DIR, DATABASE_URL: process.env.DATABASE_URL, log: console.log, error: console.error };
  const printed = { stdout: '', stderr: '' };
  delete process.env.DATABASE_URL;
  Object.assign(process.env, env);
  console.log = (...values: unknown[]) => void (printed.stdout += `${format(...values)}\n`);
  console.error = (...values: unknown[]) => void (printed.stderr += `${format(...values)}\n`);
  try {
    return { code: await runModels(args), ...printed };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    for (const name of ['DATA_DIR', 'DATABASE_URL'] as const) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
}

it('trains from a CSV, printing the data-quality report and the evaluation, and stores a candidate', async () => {
  const trained = await modelsProcess('train', '--data', messy, '--target', 'readmitted', '--task', 'binary', '--name', 'readmission', '--seed', '11');
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /missing value\(s\) in .* are imputed/);
  assert.match(trained.stdout, /patient_id: dropped: its name marks an identifier/);
  assert.match(trained.stdout, /Test split \(\d+ rows\): accuracy/);
  assert.match(trained.stdout, /(does not clearly beat|beats|does not beat) (its|the) baseline/);
  assert.match(trained.stdout, /Stored readmission version 1 \(CANDIDATE\)/);
  // Not a terminal here: progress comes as plain lines.
  assert.match(trained.stdout, /^readmission model: epoch \d+\/\d+, loss [\d.]+, val loss [\d.]+/m);
  assert.match(trained.stdout, /^readmission baseline: epoch \d+\/\d+/m);
});

it('lists, promotes, evaluates on new data and writes the model card', async () => {
  const listed = await models('list');
  assert.match(listed.stdout, /readmission \(binary, predicts readmitted\)\n {2}v1 CANDIDATE {2}accuracy/);
  const promoted = await models('promote', 'readmission', '1', '--comment', 'pilot on ward 3');
  assert.equal(promoted.code, 0, promoted.stderr);
  assert.match((await models('list')).stdout, /v1 PRODUCTION/);
  const evaluated = await models('evaluate', 'readmission', '--data', messy);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.match(evaluated.stdout, /readmission v1 on .*: \d+ rows used, \d+ skipped/);
  assert.match(evaluated.stdout, /"auroc": 0\.\d+/);
  const out = path.join(database.dataDir, 'card.md');
  assert.equal((await models('card', 'readmission', '--out', out)).code, 0);
  assert.match(await readFile(out, 'utf8'), /^# Model card: readmission \(v1\)/);
});

it('exits 1 with a clear message and no stack trace for bad files and options', async () => {
  // Commander refuses a bad choice by ending the process, and the process prints the message: those run in a process of their own.
  const cases: [typeof models, string[], RegExp][] = [
    [modelsProcess, ['train', '--data', '/nonexistent.csv', '--target', 'x', '--task', 'binary', '--name', 'nope'], /Cannot read the data file/],
    [models, ['train', '--data', messy, '--target', 'no_such_column', '--task', 'binary', '--name', 'nope'], /target column "no_such_column" is not in/],
    [modelsProcess, ['train', '--data', messy, '--target', 'readmitted', '--task', 'clustering', '--name', 'nope'], /argument 'clustering' is invalid/],
    [modelsProcess, ['train', '--data', messy, '--target', 'readmitted', '--task', 'binary', '--name', 'nope', '--max-epochs', '0'], /'--max-epochs <n>' argument '0' is invalid\. expected a whole number of at least 1/],
    [models, ['promote', 'readmission', '7', '--comment', 'x'], /readmission has no version 7/],
    [models, ['evaluate', 'unknown-model', '--data', messy], /no model named unknown-model/i],
    [models, ['train', '--data', messy, '--target', 'readmitted', '--task', 'binary', '--name', 'Bad Name'], /use 2 to 63 lower-case letters/],
  ];
  for (const [run, args, message] of cases) {
    const result = await run(...args);
    assert.notEqual(result.code, 0, args.join(' '));
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }
});

it('checks that the database is migrated before it trains, not after', async () => {
  const unmigrated = await createTestDatabase({ unmigrated: true });
  try {
    const result = await modelsOn(settingsFor(unmigrated), 'train', '--data', messy, '--target', 'readmitted', '--task', 'binary', '--name', 'early');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /pending migrations/);
    assert.doesNotMatch(result.stdout, /TensorFlow\.js|Test split/, 'no training ran');
  } finally {
    await unmigrated.drop();
  }
});

it('refuses a probable leak naming the column, and trains with it excluded and a feature specification', async () => {
  const birthWeight = path.join(root, 'test/pipeline/fixtures/birth-weight.csv');
  const leak = await models('train', '--data', birthWeight, '--target', 'low', '--task', 'binary', '--name', 'low-birth-weight');
  assert.equal(leak.code, 1);
  assert.match(leak.stderr, /Probable target leak: "bwt" \(AUROC 1\.000\)/);
  const spec = path.join(root, 'test/pipeline/fixtures/birth-weight.features.json');
  const trained = await modelsProcess('train', '--data', birthWeight, '--target', 'low', '--task', 'binary', '--name', 'low-birth-weight', '--exclude', 'bwt', '--features', spec, '--positive-class', 'yes');
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /PatientNumber .*dropped: an identifier by its content/);
  const card = await models('card', 'low-birth-weight', '--version', '1');
  assert.match(card.stdout, /\| lwt \(mother's weight at last menstrual period\) \| \[lb_av\] \| .* \| 60 to 400 \|/);
  const badSpec = await models('train', '--data', birthWeight, '--target', 'low', '--task', 'binary', '--name', 'low-birth-weight', '--features', birthWeight);
  assert.match(badSpec.stderr, /feature specification .* is not valid JSON/);
});

it('follows the registry service: no production version means naming one, not the newest', async () => {
  // low-birth-weight (trained above) was never promoted.
  const card = await models('card', 'low-birth-weight');
  assert.equal(card.code, 1);
  assert.match(card.stderr, /low-birth-weight has no production version yet; name a version/);
  assert.match((await models('card', 'low-birth-weight', '--version', '1')).stdout, /^# Model card: low-birth-weight \(v1\)/);
  const again = await models('promote', 'readmission', '1', '--comment', 'twice');
  assert.match(again.stderr, /already in production/);
});

it('refuses a longitudinal file whose sequence column is missing, or a sequence id without a time, naming the problem', async () => {
  const pbcseq = path.join(root, 'datasets/pbcseq.csv');
  const missing = await models('train', '--data', pbcseq, '--target', 'status', '--task', 'binary', '--name', 'pbc', '--sequence-id', 'patient', '--sequence-time', 'day');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /The sequence column patient \(--sequence-id\) is not in the data/);
  const alone = await models('train', '--data', pbcseq, '--target', 'status', '--task', 'binary', '--name', 'pbc', '--sequence-id', 'id');
  assert.notEqual(alone.code, 0);
  assert.match(alone.stderr, /--sequence-id and --sequence-time go together/);
});
