/**
 * One training run for the training benchmark, in its own process so that
 * its peak memory is its own: trains a dense binary model on the CSV given
 * and prints one JSON line with the time, the phases and the peak RSS.
 *
 *   node --import tsx bench/training-run.ts FILE.csv
 */
import { initTensorflow, trainModel } from '../src/pipeline/index.ts';

const [csvPath] = process.argv.slice(2);
if (!csvPath) throw new Error('usage: training-run.ts FILE.csv');
await initTensorflow();
const started = performance.now();
let lastLine = 0;
const result = await trainModel({
  data: { csvPath },
  target: 'outcome',
  task: 'binary',
  positiveClass: 'yes',
  onProgress: (event) => {
    if (performance.now() - lastLine < 10_000) return;
    lastLine = performance.now();
    console.error(`  ${event.phase} epoch ${event.epoch}/${event.epochs}, validation loss ${event.valLoss.toFixed(4)}`);
  },
});
const seconds = (performance.now() - started) / 1000;
const metrics = result.evaluation.model.metrics as { auroc: number | null };
console.log(
  JSON.stringify({
    seconds,
    rows: result.counts.rowsRead,
    durationMs: result.training.durationMs,
    epochs: result.training.epochsRun,
    batchSize: result.training.settings.batchSize,
    auroc: metrics.auroc,
    baselineAuroc: (result.evaluation.baseline.metrics as { auroc: number | null }).auroc,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);
