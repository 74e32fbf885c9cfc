import path from 'node:path';
import type { BenchContext } from './lib/context.ts';
import { type LoadFigures, runLoad } from './lib/load.ts';
import { delta, type Samples } from './lib/prometheus.ts';
import { fmt, inRoundOrder, log, median, table, verdict } from './lib/report.ts';
import { seedPredictionCases, seedReadPatient } from './lib/seed.ts';
import { type ChildServer, clinigraphEnv, scrapeMetrics, serverRoot, startClinigraph, toggleProfile } from './lib/servers.ts';
import { predictMutation } from './predict.ts';
import { detailQuery } from './read.ts';

const clients = 64;
const caseCount = 128;
const addObservations = `mutation Observe($caseId: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $o) { id } }`;

interface Figures {
  server: string;
  /** Median throughput (and its phase's latency) over the rounds. */
  predict: LoadFigures;
  statementsPerPrediction: number;
  observe: LoadFigures;
  statementsPerObserve: number;
  /** Every round's phases, in order (the ratios are per round). */
  rounds: { predict: LoadFigures; observe: LoadFigures }[];
  /** Throughput lost to auditing reads (patient detail, audit on vs off, 64 clients); measured on this checkout only. */
  readAuditCost?: { on: number; off: number; cost: number; rounds: number };
  /** Commit to signed checkpoint, p99 over every phase (undefined for a server without the ledger). */
  lagP99Ms: number | undefined;
}

/** One server under test: a checkout of the project on a database of its own, seeded through its own API. */
interface Side {
  name: string;
  server: ChildServer;
  databaseUrl: string;
  caseIds: string[];
}

/**
 * Issue 14: audited writes before and after the transparency log. predict
 * (explanations off) and addObservations at 64 clients, SQL statements per
 * request, the ledger's integration lag (commit to signed checkpoint, p99,
 * from the servers' histogram), and the audit's cost on the read path (this
 * checkout, reads audited or not, alternating). "After" is this checkout (or
 * BENCH_SERVER_ROOT); "before" is BENCH_BASELINE_ROOT, another checkout of
 * the project (e.g. main before the ledger), when set. Each runs on a
 * PostgreSQL database of its own, migrated by its own server and seeded
 * through its own API (so a baseline with an older schema works); the two
 * servers' phases alternate, round after round, so the machine's drift hits
 * both alike (their order reversed every other round, see inRoundOrder), and
 * the ratios are medians of per-round ratios.
 */
export async function ledgerBenchmark(ctx: BenchContext): Promise<void> {
  const baselineRoot = process.env.BENCH_BASELINE_ROOT ? path.resolve(process.env.BENCH_BASELINE_ROOT) : undefined;
  if (!baselineRoot) log('ledger: BENCH_BASELINE_ROOT not set: measuring this checkout only');
  const sides: Side[] = [];
  let results: Figures[];
  try {
    if (baselineRoot) sides.push(await startSide(ctx, 'before (BENCH_BASELINE_ROOT)', baselineRoot));
    sides.push(await startSide(ctx, 'after (this checkout)', serverRoot));
    results = await measure(ctx, sides);
  } finally {
    await Promise.all(sides.map((side) => side.server.stop()));
  }
  results.at(-1)!.readAuditCost = await readAuditCost(ctx);
  printLedger(results);
}

async function startSide(ctx: BenchContext, name: string, root: string): Promise<Side> {
  // The baseline migrates a database of its own with its own migrations.
  const suffix = `ledger_${++measured}`;
  const databaseUrl = root === serverRoot ? await ctx.databases.create(suffix) : await ctx.databases.createEmpty(suffix);
  const profile = ctx.profile(`ledger-${root === serverRoot ? 'after' : 'before'}`);
  const server = await startClinigraph(`clinigraph ${name}`, await clinigraphEnv({ databaseUrl, dataDir: await ctx.tempDir('ledger') }), profile, root);
  try {
    return { name, server, databaseUrl, caseIds: await seedPredictionCases(server.url, ctx.tokens, caseCount) };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** predict, then addObservations, on each server in turn, for a number of rounds. */
async function measure(ctx: BenchContext, sides: Side[]): Promise<Figures[]> {
  const { settings, tokens } = ctx;
  const seconds = Math.max(settings.loadSeconds, settings.short ? 6 : 15);
  const rounds = settings.short ? 1 : 4;
  const headers = { authorization: `Bearer ${tokens.clinician}` };
  let next = 0;
  const bodies = {
    Predict: (side: Side) => () =>
      JSON.stringify({ query: predictMutation, variables: { caseId: side.caseIds[next++ % side.caseIds.length], explain: false }, operationName: 'Predict' }),
    Observe: (side: Side) => () =>
      JSON.stringify({ query: addObservations, variables: { caseId: side.caseIds[next++ % side.caseIds.length], o: [{ code: 'bench_note', value: next }] }, operationName: 'Observe' }),
  };
  const label = (side: Side, operation: keyof typeof bodies) => `ledger ${side.name}: ${operation === 'Predict' ? 'predict, explain off' : 'addObservations'}, ${clients} clients`;
  for (const side of sides) {
    await runLoad({ label: `${label(side, 'Predict')} (warm-up)`, server: side.server, connections: 16, seconds: settings.warmSeconds, body: bodies.Predict(side), headers, warmUp: true, databaseUrl: side.databaseUrl });
  }
  const first = await Promise.all(sides.map((side) => scrapeMetrics(side.server)));
  const counts = sides.map(() => ({ Predict: { requests: 0, statements: 0 }, Observe: { requests: 0, statements: 0 } }));
  const measured = sides.map(() => [] as { predict: LoadFigures; observe: LoadFigures }[]);
  for (let round = 0; round < rounds; round++) {
    const loads = sides.map(() => ({}) as { predict: LoadFigures; observe: LoadFigures });
    for (const operation of ['Predict', 'Observe'] as const) {
      for (const [i, side] of inRoundOrder([...sides.entries()], round)) {
        const before = await scrapeMetrics(side.server);
        await toggleProfile(side.server);
        const load = await runLoad({ label: label(side, operation), server: side.server, connections: clients, seconds, body: bodies[operation](side), headers, databaseUrl: side.databaseUrl });
        await toggleProfile(side.server, `${operation}-${round + 1}`);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // the last batch is integrated and signed
        const after = await scrapeMetrics(side.server);
        counts[i]![operation].requests += delta(before, after, 'clinigraph_graphql_request_duration_seconds_count', { operation });
        counts[i]![operation].statements += delta(before, after, 'clinigraph_db_query_duration_seconds_count');
        loads[i]![operation === 'Predict' ? 'predict' : 'observe'] = load;
      }
    }
    loads.forEach((load, i) => measured[i]!.push(load));
  }
  const last = await Promise.all(sides.map((side) => scrapeMetrics(side.server)));
  return sides.map((side, i) => {
    const figures: Figures = {
      server: side.name,
      predict: medianPhase(measured[i]!.map((round) => round.predict)),
      statementsPerPrediction: counts[i]!.Predict.statements / counts[i]!.Predict.requests,
      observe: medianPhase(measured[i]!.map((round) => round.observe)),
      statementsPerObserve: counts[i]!.Observe.statements / counts[i]!.Observe.requests,
      rounds: measured[i]!,
      lagP99Ms: histogramQuantile(first[i]!, last[i]!, 'clinigraph_audit_integration_lag_seconds', 0.99),
    };
    log(`  ${side.name}: predict ${fmt.n(figures.predict.rps)}/s, addObservations ${fmt.n(figures.observe.rps)}/s, lag p99 ${figures.lagP99Ms === undefined ? 'n/a' : fmt.ms(figures.lagP99Ms)}`);
    return figures;
  });
}

/** The phase with the median throughput. */
function medianPhase(phases: LoadFigures[]): LoadFigures {
  return [...phases].sort((a, b) => a.rps - b.rps)[Math.floor((phases.length - 1) / 2)]!;
}

/**
 * The patient-detail read at 64 clients on two servers over one database,
 * reads audited (the default) and not (AUDIT_READS=false), phases
 * alternating in an order reversed every other round (see inRoundOrder).
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
    const rounds = settings.short ? 2 : 4;
    const ratios: number[] = [];
    const rps = { on: [] as number[], off: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const figures = new Map<string, LoadFigures>();
      for (const [server, label] of inRoundOrder([[on, 'audit on'], [off, 'audit off']] as const, round)) {
        figures.set(label, await phase(server, label, settings.loadSeconds, false));
      }
      const [audited, unaudited] = [figures.get('audit on')!, figures.get('audit off')!];
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
      ['server', 'predict (explain off) req/s', 'p99', 'server CPU / prediction', 'statements / prediction', 'addObservations req/s', 'p99', 'server CPU / request', 'statements / request', 'integration lag p99'],
      results.map((r) => [
        r.server,
        fmt.n(r.predict.rps),
        fmt.ms(r.predict.p99),
        fmt.ms(r.predict.serverCpuMsPerRequest),
        fmt.n(r.statementsPerPrediction),
        fmt.n(r.observe.rps),
        fmt.ms(r.observe.p99),
        fmt.ms(r.observe.serverCpuMsPerRequest),
        fmt.n(r.statementsPerObserve),
        r.lagP99Ms === undefined ? 'n/a' : `≤ ${fmt.ms(r.lagP99Ms)}`,
      ]),
    ),
  );
  const [before, after] = results.length === 2 ? results : [undefined, results[0]!];
  if (before) {
    const ratios = (kind: 'predict' | 'observe') => after.rounds.map((round, i) => round[kind].rps / before.rounds[i]![kind].rps);
    console.log(`\nPer round (phases in this order: predict before, after; addObservations before, after; each pair reversed every other round):\n`);
    console.log(
      table(
        ['round', 'predict before', 'after', 'after / before', 'addObservations before', 'after', 'after / before'],
        after.rounds.map((round, i) => {
          const base = before.rounds[i]!;
          return [`${i + 1}`, fmt.n(base.predict.rps), fmt.n(round.predict.rps), fmt.x(ratios('predict')[i]!), fmt.n(base.observe.rps), fmt.n(round.observe.rps), fmt.x(ratios('observe')[i]!)];
        }),
      ),
    );
    // Throughput is the server's CPU share over its CPU a request: a round whose share fell (other
    // processes on the cores) reads low with the same CPU a request; one whose code got slower does not.
    console.log(`
Each phase's server: CPU share (cores) and CPU a request; DB sessions running a statement (mean):
`);
    const phase = (load: LoadFigures) => `${fmt.n(load.serverCores)} · ${fmt.ms(load.serverCpuMsPerRequest)} · ${load.sessions ? fmt.n(load.sessions.active) : 'n/a'}`;
    console.log(
      table(
        ['round', 'predict before', 'after', 'addObservations before', 'after'],
        after.rounds.map((round, i) => [`${i + 1}`, phase(before.rounds[i]!.predict), phase(round.predict), phase(before.rounds[i]!.observe), phase(round.observe)]),
      ),
    );
    const rounds = after.rounds.length > 1 ? ` (median of ${after.rounds.length} rounds)` : '';
    const predict = median(ratios('predict'));
    const observe = median(ratios('observe'));
    verdict('14 ledger', 'predict (explain off, 64 clients) after / before', `${fmt.x(predict)}${rounds}`, '≥ 3x', predict >= 3);
    verdict('14 ledger', 'addObservations (64 clients) after / before', `${fmt.x(observe)}${rounds}`, '≥ 3x', observe >= 3);
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
