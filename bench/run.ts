#!/usr/bin/env tsx
/**
 * clinigraph benchmarks (issues 3, 5 and 6): read path against a bare Apollo
 * baseline, audit cost, growth of the patient table, memory, predict
 * throughput with batching on and off, token verification and audit record
 * cost, refusal of query bombs. See BENCHMARKS.md.
 *
 *   npm run bench                      full run (about 12 minutes on 2 cores)
 *   npm run bench -- --short           CI run (well under 3 minutes); BENCH_SHORT=1 does the same
 *   npm run bench -- --only read,predict   some of: read, growth, predict, auth, limits, fhir, fhir-export, ledger, training, console
 *   BENCH_BASELINE_ROOT=../main npm run bench -- --only ledger   audited writes before (that checkout) and after (this one)
 *   npm run bench -- --profile DIR     CPU profiles of the clinigraph servers into DIR (node --cpu-prof)
 *   npm run bench -- --json FILE       also write the figures against the targets as JSON
 *   npm run bench -- --embedded        also the read path on the embedded database in short mode (--no-embedded: not in a full run)
 *
 * PostgreSQL: BENCH_DATABASE_URL, else DATABASE_URL, else
 * postgresql://postgres@127.0.0.1:5432/postgres (a server URL; the run makes
 * databases named clinigraph_bench_<run>_* there and drops them at the end).
 *
 * Exit status: 0 when every benchmark ran, whether or not its target was
 * met (the figures report, they do not gate); 1 when something is broken: a
 * server did not start or died, a request failed, a benchmark threw.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { authBenchmark } from './auth.ts';
import { fhirBenchmark, fhirExportInterferenceBenchmark } from './fhir.ts';
import { consoleBenchmark } from './console.ts';
import { growthBenchmark } from './growth.ts';
import { createContext, type Settings } from './lib/context.ts';
import { problems } from './lib/load.ts';
import { limitsBenchmark } from './limits.ts';
import { BenchDatabases, postgresAnswers } from './lib/postgres.ts';
import { elapsedSeconds, fmt, log, table, verdicts } from './lib/report.ts';
import { stopAllChildren } from './lib/servers.ts';
import { machineDescription, sourceDescription } from './lib/machine.ts';
import { ledgerBenchmark } from './ledger.ts';
import { predictBenchmark } from './predict.ts';
import { readBenchmark } from './read.ts';
import { trainingBenchmark } from './training.ts';

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'string' },
    json: { type: 'string' },
    embedded: { type: 'boolean' },
  },
  allowNegative: true, // --no-embedded
});
const short = values.short || ['1', 'true', 'yes'].includes(process.env.BENCH_SHORT ?? '');
const benchmarks = ['read', 'growth', 'predict', 'auth', 'limits', 'fhir', 'fhir-export', 'ledger', 'training', 'console'];
const only = new Set((values.only ?? benchmarks.join(',')).split(',').map((name) => name.trim()));
for (const name of only) {
  if (!benchmarks.includes(name)) {
    console.error(`unknown benchmark ${name}: use some of ${benchmarks.join(', ')}`);
    process.exit(2);
  }
}

// The embedded-database read figures are on in full runs only (--embedded / --no-embedded override).
const embedded = values.embedded ?? !short;
const settings: Settings = short
  ? { short, loadSeconds: 3, latencySeconds: 2, warmSeconds: 1, readRounds: 2, growthRounds: 1, growthSmall: 10_000, growthLarge: 100_000, embedded, only, profileDir: values.profile }
  : { short, loadSeconds: 10, latencySeconds: 5, warmSeconds: 3, readRounds: 4, growthRounds: 2, growthSmall: 10_000, growthLarge: 1_000_000, embedded, only, profileDir: values.profile };

const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const databases = new BenchDatabases(serverUrl);

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    problems.push(`interrupted by ${signal}`);
    console.error(`\n${signal}: stopping servers and dropping the benchmark databases`);
    void cleanUp().finally(() => process.exit(130));
  });
}

let context: Awaited<ReturnType<typeof createContext>> | undefined;
async function cleanUp(): Promise<void> {
  await stopAllChildren();
  const dropped = await databases.dropAll();
  if (dropped.length) log(`dropped ${dropped.length} benchmark database(s)`);
  await context?.cleanup();
}

console.log(`# clinigraph benchmarks (${short ? 'short mode' : 'full run'})\n`);
console.log(await machineDescription());
console.log(await sourceDescription());
console.log(`PostgreSQL: ${new URL(serverUrl).host}; databases ${databases.run}_*\n`);

try {
  if (!(await postgresAnswers(serverUrl))) throw new Error(`PostgreSQL does not answer at ${new URL(serverUrl).host}; set BENCH_DATABASE_URL`);
  context = await createContext(settings, databases);
  for (const name of benchmarks) {
    if (!only.has(name) || interrupted) continue;
    try {
      if (name === 'read') await readBenchmark(context);
      if (name === 'growth') await growthBenchmark(context);
      if (name === 'predict') await predictBenchmark(context);
      if (name === 'auth') await authBenchmark(context);
      if (name === 'limits') await limitsBenchmark(context);
      if (name === 'fhir') await fhirBenchmark(context);
      if (name === 'fhir-export') await fhirExportInterferenceBenchmark(context);
      if (name === 'ledger') await ledgerBenchmark(context);
      if (name === 'training') await trainingBenchmark(context);
      if (name === 'console') await consoleBenchmark(context);
    } catch (error) {
      problems.push(`${name} benchmark failed: ${(error as Error).stack ?? error}`);
      console.error(`\n${name} benchmark failed:`, error);
      await stopAllChildren();
    }
  }
} catch (error) {
  problems.push(`benchmark run failed: ${(error as Error).message}`);
  console.error(error);
} finally {
  if (!interrupted) await cleanUp();
}

console.log('\n## Figures against targets\n');
console.log(
  table(
    ['section', 'figure', 'value', 'target', 'met'],
    verdicts.map((v) => [v.section, v.figure, v.value, v.target, v.met === undefined ? '' : v.met ? 'yes' : 'NO']),
  ),
);
console.log(`\nRun time: ${fmt.n(elapsedSeconds())} s (${short ? 'short mode' : 'full run'}).`);
if (values.json) {
  await writeFile(values.json, JSON.stringify({ short, settings: { ...settings, only: [...only] }, verdicts, problems, seconds: elapsedSeconds() }, null, 2));
}
if (problems.length > 0) {
  console.error(`\nBROKEN (${problems.length}):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
const missed = verdicts.filter((v) => v.met === false).length;
console.log(missed ? `${missed} target(s) missed (reported, not a failure).` : 'Every target met.');
process.exit(0);
