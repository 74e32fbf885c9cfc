import path from 'node:path';
import type { BenchContext } from './lib/context.ts';
import { type LoadFigures, runLoad } from './lib/load.ts';
import { delta, type Samples } from './lib/prometheus.ts';
import { fmt, log, table, verdict } from './lib/report.ts';
import { seedPredictionCases } from './lib/seed.ts';
import { clinigraphEnv, scrapeMetrics, serverRoot, startClinigraph } from './lib/servers.ts';
import { predictMutation } from './predict.ts';

const clients = 64;
const caseCount = 128;
const addObservations = `mutation Observe($caseId: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $o) { id } }`;

interface Figures {
  server: string;
  predict: LoadFigures;
  statementsPerPrediction: number;
  observe: LoadFigures;
  statementsPerObserve: number;
  /** Commit to signed checkpoint, p99 over both phases (undefined for a server without the ledger). */
  lagP99Ms: number | undefined;
}

/**
 * Issue 14: audited writes before and after the transparency log. predict
 * (explanations off) and addObservations at 64 clients, SQL statements per
 * request, and the ledger's integration lag (commit to signed checkpoint,
 * p99, from the servers' histogram). "After" is this checkout (or
 * BENCH_SERVER_ROOT); "before" is BENCH_BASELINE_ROOT, another checkout of
 * the project (e.g. main before the ledger), when set. Each runs on a
 * PostgreSQL database of its own.
 */
export async function ledgerBenchmark(ctx: BenchContext): Promise<void> {
  const baselineRoot = process.env.BENCH_BASELINE_ROOT ? path.resolve(process.env.BENCH_BASELINE_ROOT) : undefined;
  const results: Figures[] = [];
  if (baselineRoot) results.push(await measure(ctx, 'before (BENCH_BASELINE_ROOT)', baselineRoot));
  else log('ledger: BENCH_BASELINE_ROOT not set: measuring this checkout only');
  results.push(await measure(ctx, 'after (this checkout)', serverRoot));
  printLedger(results);
}

async function measure(ctx: BenchContext, name: string, root: string): Promise<Figures> {
  const { settings, tokens } = ctx;
  // The baseline migrates a database of its own with its own migrations.
  const suffix = `ledger_${++measured}`;
  const databaseUrl = root === serverRoot ? await ctx.databases.create(suffix) : await ctx.databases.createEmpty(suffix);
  const dataDir = await ctx.tempDir('ledger');
  const server = await startClinigraph(`clinigraph ${name}`, await clinigraphEnv({ databaseUrl, dataDir }), undefined, root);
  try {
    const caseIds = await seedPredictionCases(databaseUrl, tokens.clinicianSubject, caseCount);
    const seconds = Math.max(settings.loadSeconds, settings.short ? 6 : 15);
    const headers = { authorization: `Bearer ${tokens.clinician}` };
    const phase = async (label: string, operation: string, body: () => string, warm: boolean) => {
      if (warm) await runLoad({ label: `${label} (warm-up)`, server, connections: 16, seconds: settings.warmSeconds, body, headers, warmUp: true, databaseUrl });
      const before = await scrapeMetrics(server);
      const load = await runLoad({ label, server, connections: clients, seconds, body, headers, databaseUrl });
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the last batch is integrated and signed
      const after = await scrapeMetrics(server);
      const requests = delta(before, after, 'clinigraph_graphql_request_duration_seconds_count', { operation });
      return { load, statements: delta(before, after, 'clinigraph_db_query_duration_seconds_count') / requests, before, after };
    };
    let next = 0;
    const predict = await phase(`ledger ${name}: predict, explain off, ${clients} clients`, 'Predict', () =>
      JSON.stringify({ query: predictMutation, variables: { caseId: caseIds[next++ % caseIds.length], explain: false }, operationName: 'Predict' }), true);
    const observe = await phase(`ledger ${name}: addObservations, ${clients} clients`, 'Observe', () =>
      JSON.stringify({ query: addObservations, variables: { caseId: caseIds[next++ % caseIds.length], o: [{ code: 'bench_note', value: next }] }, operationName: 'Observe' }), false);
    const figures: Figures = {
      server: name,
      predict: predict.load,
      statementsPerPrediction: predict.statements,
      observe: observe.load,
      statementsPerObserve: observe.statements,
      lagP99Ms: histogramQuantile(predict.before, observe.after, 'clinigraph_audit_integration_lag_seconds', 0.99),
    };
    log(`  ${name}: predict ${fmt.n(figures.predict.rps)}/s, addObservations ${fmt.n(figures.observe.rps)}/s, lag p99 ${figures.lagP99Ms === undefined ? 'n/a' : fmt.ms(figures.lagP99Ms)}`);
    return figures;
  } finally {
    await server.stop();
  }
}

/** Databases made so far (each server gets one of its own). */
let measured = 0;

/** A quantile of a Prometheus histogram's change between two scrapes, as the upper bound of its bucket (ms). */
function histogramQuantile(before: Samples, after: Samples, name: string, q: number): number | undefined {
  const count = delta(before, after, `${name}_count`);
  if (!(count > 0)) return undefined;
  const bounds = [...new Set(after.filter((s) => s.name === `${name}_bucket`).map((s) => s.labels.le!))]
    .map((le) => ({ le, bound: le === '+Inf' ? Infinity : Number(le) }))
    .sort((a, b) => a.bound - b.bound);
  const bucket = bounds.find(({ le }) => delta(before, after, `${name}_bucket`, { le }) >= q * count);
  return bucket ? bucket.bound * 1000 : undefined;
}

function printLedger(results: Figures[]): void {
  console.log(`\n### Audited writes and the audit ledger, ${clients} clients (PostgreSQL)\n`);
  console.log(
    table(
      ['server', 'predict (explain off) req/s', 'p99', 'statements / prediction', 'addObservations req/s', 'p99', 'statements / request', 'integration lag p99'],
      results.map((r) => [
        r.server,
        fmt.n(r.predict.rps),
        fmt.ms(r.predict.p99),
        fmt.n(r.statementsPerPrediction),
        fmt.n(r.observe.rps),
        fmt.ms(r.observe.p99),
        fmt.n(r.statementsPerObserve),
        r.lagP99Ms === undefined ? 'n/a' : `≤ ${fmt.ms(r.lagP99Ms)}`,
      ]),
    ),
  );
  const [before, after] = results.length === 2 ? results : [undefined, results[0]!];
  if (before) {
    verdict('14 ledger', 'predict (explain off, 64 clients) after / before', fmt.x(after.predict.rps / before.predict.rps), '≥ 3x', after.predict.rps / before.predict.rps >= 3);
    verdict('14 ledger', 'addObservations (64 clients) after / before', fmt.x(after.observe.rps / before.observe.rps), '≥ 3x', after.observe.rps / before.observe.rps >= 3);
  }
  verdict('14 ledger', 'statements per prediction', fmt.n(after.statementsPerPrediction), '≤ 5', after.statementsPerPrediction <= 5);
  if (after.lagP99Ms !== undefined) verdict('14 ledger', 'integration lag p99 (commit to signed checkpoint)', `≤ ${fmt.ms(after.lagP99Ms)}`, '≤ 1 s', after.lagP99Ms <= 1000);
}
