import path from 'node:path';
import type { BenchContext } from './lib/context.ts';
import { type LoadFigures, runLoad } from './lib/load.ts';
import { delta, type Samples } from './lib/prometheus.ts';
import { fmt, log, median, table, verdict } from './lib/report.ts';
import { seedPredictionCases, seedReadPatient } from './lib/seed.ts';
import { clinigraphEnv, scrapeMetrics, serverRoot, startClinigraph } from './lib/servers.ts';
import { predictMutation } from './predict.ts';
import { detailQuery } from './read.ts';

const clients = 64;
const caseCount = 128;
const addObservations = `mutation Observe($caseId: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $o) { id } }`;

interface Figures {
  server: string;
  predict: LoadFigures;
  statementsPerPrediction: number;
  observe: LoadFigures;
  statementsPerObserve: number;
  /** Throughput lost to auditing reads (patient detail, audit on vs off, 64 clients); measured on this checkout only. */
  readAuditCost?: { on: number; off: number; cost: number; rounds: number };
  /** Commit to signed checkpoint, p99 over both phases (undefined for a server without the ledger). */
  lagP99Ms: number | undefined;
}

/**
 * Issue 14: audited writes before and after the transparency log. predict
 * (explanations off) and addObservations at 64 clients, SQL statements per
 * request, the ledger's integration lag (commit to signed checkpoint, p99,
 * from the servers' histogram), and the audit's cost on the read path (this
 * checkout, reads audited or not, alternating). "After" is this checkout (or
 * BENCH_SERVER_ROOT); "before" is BENCH_BASELINE_ROOT, another checkout of
 * the project (e.g. main before the ledger), when set. Each runs on a
 * PostgreSQL database of its own.
 */
export async function ledgerBenchmark(ctx: BenchContext): Promise<void> {
  const baselineRoot = process.env.BENCH_BASELINE_ROOT ? path.resolve(process.env.BENCH_BASELINE_ROOT) : undefined;
  const results: Figures[] = [];
  if (baselineRoot) results.push(await measure(ctx, 'before (BENCH_BASELINE_ROOT)', baselineRoot));
  else log('ledger: BENCH_BASELINE_ROOT not set: measuring this checkout only');
  const after = await measure(ctx, 'after (this checkout)', serverRoot);
  after.readAuditCost = await readAuditCost(ctx);
  results.push(after);
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

/**
 * The patient-detail read at 64 clients on two servers over one database,
 * reads audited (the default) and not (AUDIT_READS=false), phases
 * alternating so the machine's drift hits both alike.
 */
async function readAuditCost(ctx: BenchContext): Promise<NonNullable<Figures['readAuditCost']>> {
  const { settings, tokens } = ctx;
  const database = { databaseUrl: await ctx.databases.create(`ledger_read_${++measured}`), dataDir: await ctx.tempDir('ledger-read') };
  const on = await startClinigraph('clinigraph (reads audited)', await clinigraphEnv(database));
  const off = await startClinigraph('clinigraph (reads not audited)', await clinigraphEnv(database, { AUDIT_READS: 'false' }));
  try {
    const patientId = await seedReadPatient(on.url, tokens, 'BENCH-LEDGER-READ-1');
    const body = () => JSON.stringify({ query: detailQuery, variables: { id: patientId }, operationName: 'PatientDetail' });
    const headers = { authorization: `Bearer ${tokens.clinician}` };
    const phase = (server: typeof on, label: string, seconds: number, warmUp: boolean) =>
      runLoad({ label: `ledger read path, ${label}`, server, connections: clients, seconds, body, headers, warmUp, databaseUrl: database.databaseUrl });
    for (const [server, label] of [[on, 'audit on'], [off, 'audit off']] as const) await phase(server, `${label} (warm-up)`, settings.warmSeconds, true);
    const rounds = settings.short ? 1 : 3;
    const ratios: number[] = [];
    const rps = { on: [] as number[], off: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const audited = await phase(on, 'audit on', settings.loadSeconds, false);
      const unaudited = await phase(off, 'audit off', settings.loadSeconds, false);
      rps.on.push(audited.rps);
      rps.off.push(unaudited.rps);
      ratios.push(audited.rps / unaudited.rps);
    }
    return { on: median(rps.on), off: median(rps.off), cost: 1 - median(ratios), rounds };
  } finally {
    await Promise.all([on.stop(), off.stop()]);
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
  verdict('14 ledger', 'statements per addObservations', fmt.n(after.statementsPerObserve), '≤ 5', after.statementsPerObserve <= 5);
  const read = after.readAuditCost;
  if (read) {
    const rounds = read.rounds > 1 ? ` (median of ${read.rounds} rounds)` : '';
    verdict('14 ledger', 'audit cost on the read path (patient detail, 64 clients)', `${fmt.n(read.off)} -> ${fmt.n(read.on)} req/s: ${fmt.pct(read.cost)}${rounds}`, '≤ 10%', read.cost <= 0.1);
  }
  if (after.lagP99Ms !== undefined) verdict('14 ledger', 'integration lag p99 (commit to signed checkpoint)', `≤ ${fmt.ms(after.lagP99Ms)}`, '≤ 1 s', after.lagP99Ms <= 1000);
}
