/**
 * `npm test`: Node's test runner over every test/<domain>/*.test.ts, three
 * files at a time (TEST_CONCURRENCY), longest first.
 *
 * `node --test` runs its files in alphabetical order, so a long file that
 * sorts late runs alone at the end while the other core idles. This orders
 * them by the durations the previous run recorded (.cache/test-durations.json),
 * or in a clean clone by those of a quiet run kept with the tests
 * (test/durations.json): files with no record first (they may be long), then
 * the longest. Each run records its own durations for the next.
 *
 * Files named on the command line run instead of all of them
 * (`npm test -- test/audit/ledger.test.ts`).
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const durationsFile = '.cache/test-durations.json';
const keptDurationsFile = 'test/durations.json';
type Durations = Record<string, number>;

async function allTestFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const domain of await readdir('test', { withFileTypes: true })) {
    if (!domain.isDirectory()) continue;
    for (const name of await readdir(path.join('test', domain.name))) if (name.endsWith('.test.ts')) files.push(path.join('test', domain.name, name));
  }
  return files.sort();
}

async function recordedDurations(): Promise<Durations> {
  const read = (file: string) => readFile(file, 'utf8').then((text) => JSON.parse(text) as Durations);
  return read(durationsFile).catch(() => read(keptDurationsFile)).catch(() => ({}));
}

/** Unrecorded files first, then the longest; Array.prototype.sort is stable, so ties keep alphabetical order. */
function longestFirst(files: string[], durations: Durations): string[] {
  const ms = (file: string) => durations[file] ?? Infinity;
  return [...files].sort((a, b) => (ms(a) === ms(b) ? 0 : ms(a) > ms(b) ? -1 : 1));
}

/**
 * Files run at a time: TEST_CONCURRENCY, else 3. The files wait for about
 * half their time (servers, browsers, timers), so on 2 cores three at a time
 * finished the embedded suite in 5.5 minutes where two took 10.6 (README, Tests).
 */
function concurrency(): number {
  const setting = process.env.TEST_CONCURRENCY ?? '3';
  if (/^[1-9]\d*$/.test(setting)) return Number(setting);
  console.error(`TEST_CONCURRENCY must be a whole number of files, not "${setting}"`);
  process.exit(2);
}

const named = process.argv.slice(2);
const previous = await recordedDurations();
const files = named.length > 0 ? named : longestFirst(await allTestFiles(), previous);
const measured: Durations = {};

// The child processes inherit this process's flags (--import tsx), as under `node --test`.
const stream = run({ files: files.map((file) => path.resolve(file)), concurrency: concurrency() });
// Each file is also a test of its own (named by its path), complete when its process has ended.
stream.on('test:complete', (event) => {
  if (event.nesting !== 0 || event.name !== event.file) return;
  measured[path.relative(process.cwd(), event.file)] = Math.round(event.details.duration_ms);
  if (!event.details.passed) process.exitCode = 1;
});
stream.on('end', async () => {
  await mkdir(path.dirname(durationsFile), { recursive: true });
  // A whole run replaces the record (so deleted files drop out); a run of some files updates theirs.
  await writeFile(durationsFile, `${JSON.stringify(named.length > 0 ? { ...previous, ...measured } : measured, null, 2)}\n`);
});
stream.compose(new spec()).pipe(process.stdout);
