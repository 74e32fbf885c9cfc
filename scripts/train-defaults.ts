/**
 * Trains the default models shipped with clinigraph from the data sets in
 * datasets/ with fixed seeds, and writes models/defaults/<name>.json
 * (serialized training result and model card), which the registry imports
 * at the server's first start.
 *
 *   npx tsx scripts/train-defaults.ts                 # all four
 *   npx tsx scripts/train-defaults.ts --model digits  # one
 *   npx tsx scripts/train-defaults.ts --model pbc-mortality --cv 5   # with 5-fold cross-validation in the card
 */
import { Command } from 'commander';
import { foldSpreadLines, parseCrossValidation } from '../src/pipeline/cross-validation.ts';
import { checkQualityBars, defaultModel, defaultModels, trainDefaultModel, writeShippedModel } from '../src/pipeline/defaults.ts';
import { trainingProgressBar } from '../src/pipeline/progress-bar.ts';
import { renderQualityReport } from '../src/pipeline/quality.ts';
import { initTensorflow } from '../src/pipeline/tensorflow.ts';

const program = new Command()
  .description('Train the default models and write models/defaults/<name>.json')
  .option('-m, --model <names...>', 'only these models', defaultModels.map((model) => model.name))
  .option('-o, --out <dir>', 'output folder (default: models/defaults)')
  .option('-q, --quiet', 'print no data-quality report')
  .option('--cv <k|kxr>', 'also cross-validate (k folds, or k x repeats) and keep the figures in the card; the stored model is the same as without', parseCrossValidation)
  .parse();
const options = program.opts<{ model: string[]; out?: string; quiet?: boolean; cv?: ReturnType<typeof parseCrossValidation> }>();

const engine = await initTensorflow();
console.log(`TensorFlow.js ${engine.tfjsVersion} on the ${engine.backend} backend`);
let failed = false;
for (const name of options.model) {
  const model = defaultModel(name);
  const progress = trainingProgressBar(model.name);
  const started = performance.now();
  const trained = await trainDefaultModel(model, progress.onProgress, options.cv).finally(progress.stop);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const file = await writeShippedModel(model.name, trained, options.out);
  const { result } = trained;
  if (!options.quiet) console.log(`\n${renderQualityReport(result.quality)}`);
  console.log(`${model.name}: trained in ${seconds} s, written to ${file}`);
  for (const figure of trained.card.performance.headline) {
    const interval = figure.modelInterval ? ` (95% CI ${figure.modelInterval[0].toFixed(3)} to ${figure.modelInterval[1].toFixed(3)})` : '';
    console.log(`  ${figure.metric}: ${figure.model?.toFixed(3)}${interval}; baseline ${figure.baseline?.toFixed(3)}`);
  }
  console.log(`  ${result.evaluation.comparison.statement}`);
  if (result.crossValidation) {
    console.log(`  ${result.crossValidation.statement}`);
    for (const line of foldSpreadLines(result.crossValidation)) console.log(`    ${line}`);
  }
  for (const { bar, value, met } of checkQualityBars(model, result)) {
    failed ||= !met;
    console.log(`  quality bar ${bar.metric} ${bar.min !== undefined ? `>= ${bar.min}` : `<= ${bar.max}`}: ${value?.toFixed(4)} ${met ? 'met' : 'NOT MET'}`);
  }
}
process.exitCode = failed ? 1 : 0;
