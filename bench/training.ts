import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from './lib/context.ts';
import { clinicalColumns, writeClinicalCsv } from './lib/clinical-csv.ts';
import { fmt, log, table, verdicts } from './lib/report.ts';

/**
 * Training on a large CSV (issue 15): a synthetic clinical file of 1 million
 * rows and 20 columns (100,000 in short mode; BENCH_TRAINING_ROWS overrides)
 * is generated, then a dense binary model trains on it in a child process
 * (bench/training-run.ts): wall time from reading the file to the evaluated
 * model, and the child's peak resident memory. Targets: 5 minutes, 2 GiB.
 */
export async function trainingBenchmark(context: BenchContext): Promise<void> {
  const rows = Number(process.env.BENCH_TRAINING_ROWS ?? (context.settings.short ? 100_000 : 1_000_000));
  const dir = await context.tempDir('clinigraph-bench-training-');
  const csv = path.join(dir, `clinical-${rows}.csv`);
  log(`\n## Training on a large CSV (${rows.toLocaleString('en')} rows, ${clinicalColumns.length} columns)\n`);
  const generated = performance.now();
  await writeClinicalCsv(csv, rows);
  log(`generated ${csv} in ${fmt.n((performance.now() - generated) / 1000)} s`);
  const root = path.resolve(import.meta.dirname, '..');
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/training-run.ts', csv], { cwd: root, maxBuffer: 1 << 20 });
  const run = JSON.parse(stdout.trim().split('\n').pop()!) as {
    seconds: number;
    durationMs: { model: number; baseline: number; evaluation: number };
    epochs: number;
    batchSize: number;
    auroc: number;
    baselineAuroc: number;
    cpuSeconds: number;
    peakRssMiB: number;
  };
  const reading = run.seconds - (run.durationMs.model + run.durationMs.baseline + run.durationMs.evaluation) / 1000;
  console.log(
    table(
      ['phase', 'seconds'],
      [
        ['read, check, split, preprocess', fmt.n(reading)],
        [`network (${run.epochs} epochs, batch ${run.batchSize})`, fmt.n(run.durationMs.model / 1000)],
        ['baseline', fmt.n(run.durationMs.baseline / 1000)],
        ['evaluation', fmt.n(run.durationMs.evaluation / 1000)],
        ['total', fmt.n(run.seconds)],
        ['CPU time of the run (user + system; wall time on a shared machine is longer)', fmt.n(run.cpuSeconds)],
      ],
    ),
  );
  log(`test AUROC ${run.auroc.toFixed(3)} (baseline ${run.baselineAuroc.toFixed(3)})`);
  const full = rows >= 1_000_000;
  verdicts.push(
    { section: 'training', figure: `train ${rows.toLocaleString('en')} rows`, value: `${fmt.n(run.seconds)} s`, target: full ? '<= 300 s' : '(1M rows: <= 300 s)', met: full ? run.seconds <= 300 : undefined },
    { section: 'training', figure: 'peak resident memory', value: fmt.mib(run.peakRssMiB), target: full ? '<= 2048 MiB' : '(1M rows: <= 2048 MiB)', met: full ? run.peakRssMiB <= 2048 : undefined },
  );
}
