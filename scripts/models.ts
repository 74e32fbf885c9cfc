#!/usr/bin/env tsx
/**
 * The model registry from the command line, on the same database as the
 * server (DATA_DIR / DATABASE_URL; stop a server that uses the embedded
 * database first: it admits one process at a time).
 *
 *   npm run train -- --data file.csv --target col --task binary --name my-model
 *   npm run models -- list
 *   npm run models -- evaluate my-model --data new.csv [--version 2]
 *   npm run models -- promote my-model 2 --comment "validated on 2026 data"
 *   npm run models -- card my-model [--version 2] [--out card.md]
 */
import 'dotenv/config';
import { realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { runAsSystem } from '../src/access/scope.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { loadConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { pendingMigrations } from '../src/db/migrations.ts';
import { ModelRepository } from '../src/models/model.repository.ts';
import { ModelService } from '../src/models/model.service.ts';
import { placeholderCardText } from '../src/models/stored-version.ts';
import { TrainingDataRepository } from '../src/models/training-data.repository.ts';
import { TrainingRunner } from '../src/models/training-runner.ts';
import { ProductionChanges } from '../src/models/production-changes.ts';
import {
  type CardText,
  type CrossValidationOptions,
  describeCalibration,
  describeConformal,
  evaluateOnDataset,
  initTensorflow,
  loadServingModel,
  parseCrossValidation,
  parseThresholdRule,
  readCsvFile,
  readFeatureSpec,
  renderQualityReport,
  trainingProgressBar,
  trainModel,
  type ThresholdRule,
  type TrainingResult,
} from '../src/pipeline/index.ts';

const crossValidation = (value: string) => {
  try {
    return parseCrossValidation(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

const thresholdRule = (value: string) => {
  try {
    return parseThresholdRule(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

const columnList = (value: string) => value.split(',').map((name) => name.trim()).filter(Boolean);

const integer = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a whole number');
  return parsed;
};

const positiveInteger = (value: string) => {
  const parsed = integer(value);
  if (parsed < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return parsed;
};

/**
 * Opens the configured database as the command-line user and runs the work
 * with the registry's service, the same rules (names, versions, promotion,
 * cards) and audit as the API; closes the database afterwards.
 */
async function withRegistry<T>(work: (models: ModelService) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    if ((await pendingMigrations(db.prisma)).length > 0) throw new Error('the database has pending migrations: run npm run db:migrate (or start the server) first');
    const log = pino({ level: 'warn' });
    const deps = { db, config, auditLog: new AuditLog(db.prisma, log), log };
    return await runAsSystem(deps, `cli:${os.userInfo().username}`, ['data_scientist', 'admin'], (scope) =>
      work(new ModelService(new ModelRepository(scope), new TrainingDataRepository(scope), scope.access, new TrainingRunner(deps), scope.trail, config.maxPageSize, new ProductionChanges())),
    );
  } finally {
    await db.close();
  }
}

const headline = (result: Pick<TrainingResult, 'evaluation'>) => {
  const metrics = result.evaluation.model.metrics as unknown as Record<string, unknown>;
  return result.evaluation.headline
    .filter((name) => typeof metrics[name] === 'number')
    .map((name) => `${name} ${(metrics[name] as number).toFixed(3)}`)
    .join(', ');
};

const program = new Command('models').description('the clinigraph model registry');

program
  .command('train')
  .description('train a model on a CSV file and add it to the registry as a candidate version')
  .requiredOption('--data <file>', 'CSV file with a header row')
  .requiredOption('--target <column>', 'the column to predict')
  .addOption(new Option('--task <task>', 'what to predict').choices(['binary', 'multiclass', 'regression', 'image']).makeOptionMandatory())
  .option('--width <pixels>', 'image task: image width (every column but the target is a pixel, row by row)', integer)
  .option('--height <pixels>', 'image task: image height', integer)
  .requiredOption('--name <name>', 'registry name of the model')
  .option('--description <text>', 'what the model is for', '')
  .option('--positive-class <label>', 'binary: the class called positive')
  .option('--seed <n>', 'random seed', integer)
  .option('--max-epochs <n>', 'most epochs the network trains (default: its architecture\'s, 300 for tables, 60 for sequences; it stops earlier once the validation loss stops improving)', positiveInteger)
  .option('--features <spec.json>', 'feature specification: each column\'s unit (UCUM), type and possible range (see README)')
  .option('--exclude <columns>', 'comma-separated columns to leave out (a leak, an identifier)', columnList)
  .option('--accept-leak <columns>', 'comma-separated columns flagged as probable leaks that are known before the outcome', columnList)
  .option('--group <column>', 'the column naming each row\'s patient: a patient\'s rows never sit on both sides of a split or fold')
  .option('--sequence-id <column>', 'longitudinal file, one row per visit: the column naming each visit\'s patient (trains a GRU over each patient\'s visits; binary tasks)')
  .option('--sequence-time <column>', 'longitudinal file: the column of each visit\'s time, a number of days (with --sequence-id)')
  .option('--cv <k|kxr>', 'also cross-validate: k folds (5), or k folds repeated r times (5x5); reports each metric\'s mean and spread', crossValidation)
  .option('--threshold <rule>', 'binary decision threshold: youden, sensitivity=0.9 (chosen on the validation split) or a probability such as 0.5', thresholdRule)
  .option('--coverage <p>', 'nominal coverage of the conformal prediction sets and intervals (default 0.9)', Number)
  .option('--no-calibrate', 'keep the network\'s probabilities as trained (default: recalibrate them on the validation split)')
  .option('--drop-duplicates', 'drop rows identical to an earlier row (default: report and keep them)')
  .addOption(new Option('--missing <policy>', 'missing feature values').choices(['impute', 'drop-rows']).default('impute'))
  .option('--promote', 'make the new version the production version')
  .action(async (options: {
    data: string;
    target: string;
    task: 'binary' | 'multiclass' | 'regression' | 'image';
    width?: number;
    height?: number;
    name: string;
    description: string;
    positiveClass?: string;
    seed?: number;
    maxEpochs?: number;
    features?: string;
    exclude?: string[];
    acceptLeak?: string[];
    dropDuplicates?: boolean;
    group?: string;
    sequenceId?: string;
    sequenceTime?: string;
    cv?: CrossValidationOptions;
    threshold?: ThresholdRule;
    coverage?: number;
    calibrate: boolean;
    missing: 'impute' | 'drop-rows';
    promote?: boolean;
  }) => {
    if ((options.task === 'image') !== Boolean(options.width && options.height)) throw new Error('--width and --height go with --task image, and it needs them');
    if (Boolean(options.sequenceId) !== Boolean(options.sequenceTime)) throw new Error('--sequence-id and --sequence-time go together');
    // The database is checked (reachable, migrated) and the name validated before the long part, not after it.
    await withRegistry(async (models) => {
      models.checkModelName(options.name);
      const featureSpec = options.features ? await readFeatureSpec(options.features) : undefined;
      const engine = await initTensorflow();
      console.log(`TensorFlow.js ${engine.tfjsVersion} on the ${engine.backend} backend`);
      const progress = trainingProgressBar(options.name);
      const result = await trainModel({
        data: { csvPath: options.data },
        target: options.target,
        task: options.task,
        ...(options.positiveClass ? { positiveClass: options.positiveClass } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.maxEpochs !== undefined ? { training: { epochs: options.maxEpochs } } : {}),
        ...(options.width && options.height ? { image: { width: options.width, height: options.height } } : {}),
        ...(featureSpec ? { featureSpec } : {}),
        ...(options.exclude ? { exclude: options.exclude } : {}),
        ...(options.acceptLeak ? { acceptLeaks: options.acceptLeak } : {}),
        duplicates: options.dropDuplicates ? 'drop' : 'keep',
        ...(options.group ? { group: options.group } : {}),
        ...(options.sequenceId && options.sequenceTime ? { sequence: { id: options.sequenceId, time: options.sequenceTime } } : {}),
        ...(options.cv ? { crossValidation: options.cv } : {}),
        ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
        ...(options.coverage !== undefined ? { coverage: options.coverage } : {}),
        calibrate: options.calibrate,
        missing: options.missing,
        onProgress: progress.onProgress,
        onStage: progress.onStage,
      }).finally(progress.stop);
      console.log(`\n${renderQualityReport(result.quality)}\n`);
      console.log(`Test split (${result.counts.test} rows): ${headline(result)}`);
      console.log(result.evaluation.comparison.statement);
      if (result.crossValidation) console.log(result.crossValidation.statement);
      if (result.thresholdRule) console.log(`Threshold: ${result.thresholdRule}`);
      if (result.calibration) console.log(describeCalibration(result.calibration, result.evaluation.model.intervals.ece));
      if (result.conformal) console.log(describeConformal(result.conformal));
      const cardText: CardText = placeholderCardText(options.name, options.description, options.data);
      const version = await models.addTrainedVersion({ name: options.name, description: options.description }, result, cardText, options.promote ? 'promoted at training (CLI --promote)' : undefined);
      console.log(`Stored ${options.name} version ${version.version} (${version.stage}), id ${version.id}`);
    });
  });

program
  .command('list')
  .description('models and their versions')
  .action(() =>
    withRegistry(async (models) => {
      for (const model of await models.list()) {
        console.log(`${model.name} (${model.task.toLowerCase()}, predicts ${model.target})`);
        for (const version of await models.versions(model)) {
          console.log(`  v${version.version} ${version.stage.padEnd(10)} ${headline(version.result as unknown as TrainingResult)}  trained ${version.trainedAt.toISOString()} by ${version.trainedBy}`);
        }
      }
    }),
  );

program
  .command('evaluate')
  .description('evaluate a version on new labelled data (external validation)')
  .argument('<model>', 'model name')
  .requiredOption('--data <file>', 'CSV file with the features and the outcome column')
  .option('--version <n>', 'version (default: production)', integer)
  .action((name: string, options: { data: string; version?: number }) =>
    withRegistry(async (models) => {
      await initTensorflow();
      const version = await models.resolveVersion(name, options.version);
      const serving = await loadServingModel(await models.trainingResult(version));
      const { metrics, rowsUsed, rowsSkipped } = await evaluateOnDataset(serving, await readCsvFile(options.data));
      console.log(`${name} v${version.version} on ${options.data}: ${rowsUsed} rows used, ${rowsSkipped} skipped`);
      console.log(JSON.stringify(metrics, null, 2));
    }),
  );

program
  .command('promote')
  .description('make a version the production version (the previous one is archived)')
  .argument('<model>', 'model name')
  .argument('<version>', 'version number', integer)
  .requiredOption('--comment <text>', 'why (kept with the version and in the audit log)')
  .action((name: string, version: number, options: { comment: string }) =>
    withRegistry(async (models) => {
      await models.promote((await models.resolveVersion(name, version)).id, options.comment);
      console.log(`${name} v${version} is now in production.`);
    }),
  );

program
  .command('card')
  .description('print (or write) the model card as Markdown')
  .argument('<model>', 'model name')
  .option('--version <n>', 'version (default: production)', integer)
  .option('--out <file>', 'write to this file instead of printing')
  .action((name: string, options: { version?: number; out?: string }) =>
    withRegistry(async (models) => {
      const { markdown } = models.card(await models.resolveVersion(name, options.version));
      if (options.out) await writeFile(options.out, markdown);
      else console.log(markdown);
    }),
  );

/**
 * Runs one command (`args` as typed after `npm run models --`), printing as
 * the command line does. Exported so that the tests can run most commands
 * in their own process instead of paying a process start-up for each.
 * @returns the exit code: 0, or 1 after printing the error's message
 */
export async function runModels(args: string[]): Promise<number> {
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    // Messages are written for users; stack traces are not.
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
}

// Run as a command (not imported by a test): the entry file, compared by its real path as Node loads it (through a symlink too).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await runModels(process.argv.slice(2));
