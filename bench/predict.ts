import type { BenchContext } from './lib/context.ts';
import { type LoadFigures, runLoad } from './lib/load.ts';
import { adminQuery } from './lib/postgres.ts';
import { delta, type Samples, total } from './lib/prometheus.ts';
import { fmt, inRoundOrder, log, median, table, verdict } from './lib/report.ts';
import { seedImageCases, seedPredictionCases, seedSequenceCases } from './lib/seed.ts';
import { type ChildServer, clinigraphEnv, scrapeMetrics, startClinigraph, toggleProfile } from './lib/servers.ts';

/** The predict benchmark's document for one model (its operation is Predict, as /metrics names it). */
const predictDocument = (model: string) => `mutation Predict($caseId: ID!, $explain: Boolean) {
  predict(caseId: $caseId, model: "${model}", explain: $explain) {
    id label probabilities { label probability } latencyMs
    explanation { method summary }
  }
}`;

const model = 'breast-cancer';
export const predictMutation = predictDocument(model);
/**
 * Issue 14's models, whose compute per row is a larger part of a request than
 * the dense model's: batching on / off compared for each, explanations off.
 */
const batchingModels = [
  { name: 'digits', kind: 'a CNN on 8x8 images', seed: seedImageCases, cases: 'an 8x8 image each' },
  { name: 'pbc-mortality', kind: 'a GRU over a patient\'s visits', seed: seedSequenceCases, cases: 'up to 4 pbcseq visits each' },
] as const;
type BatchingModel = (typeof batchingModels)[number];
const concurrencies = [1, 16, 64];
/** Prediction-ready cases the requests rotate through. */
const caseCount = 128;

/** Where a phase's request time went: means per request, ms, unless named otherwise. */
export interface PredictSplit {
  /** End to end, as the client saw it (autocannon's mean). */
  httpMs: number;
  /** Apollo request (parse, validate, execute, audit plugin), from /metrics. */
  graphqlMs: number;
  /** The service's own latencyMs of the stored predictions (reads, model, explanation, write). */
  serviceMs: number;
  /** Waiting for the batcher: queue plus the batch's compute (output.timings.modelMs). */
  modelWaitMs: number;
  /** The tensor run a request waits on: mean batch duration (inference histogram sum / count). */
  modelComputeMs: number;
  /** Model compute per row: inference time / rows. */
  modelPerRowMs: number;
  batchSize: number;
  /** Integrated gradients (output.timings.explanationMs), synchronous on the event loop. */
  explanationMs: number;
  /** Sum of the durations of the request's SQL statements. */
  dbMs: number;
  dbStatements: number;
  /** The write transaction's audit append (advisory lock wait, head read, insert). */
  auditAppendMs: number;
  /** Server CPU time per request. */
  cpuMs: number;
  /** Share of the server's CPU time spent in model compute. */
  modelCpuShare: number;
  eventLoopP99Ms: number;
  predictions: number;
}

interface Phase {
  model: string;
  explain: boolean;
  clients: number;
  batching: boolean;
  load: LoadFigures;
  split: PredictSplit;
}

/**
 * Issue 5: predict throughput and latency at 1, 16 and 64 concurrent
 * clients, batching on (PREDICT_MAX_BATCH=32, the default) and off (=1), with
 * explanations (the default) and without, against servers on PostgreSQL.
 * Phases alternate between the two servers. The time split comes from the
 * servers' /metrics deltas over each phase and the timings stored with the
 * phase's predictions.
 */
export async function predictBenchmark(ctx: BenchContext): Promise<void> {
  const { settings, tokens } = ctx;
  log('predict: creating the database and starting two servers (batching on, then off)');
  const databaseUrl = await ctx.databases.create('predict');
  const dataDir = await ctx.tempDir('predict');
  // One after the other: both would install the default models into the empty registry at once.
  const on = await startClinigraph('clinigraph (batching on)', await clinigraphEnv({ databaseUrl, dataDir }), ctx.profile('predict-batch-on'));
  let off: ChildServer | undefined;
  try {
    off = await startClinigraph('clinigraph (batching off)', await clinigraphEnv({ databaseUrl, dataDir }, { PREDICT_MAX_BATCH: '1' }), ctx.profile('predict-batch-off'));
    const cases: Record<string, string[]> = { [model]: await seedPredictionCases(on.url, tokens, caseCount) };
    for (const other of batchingModels) cases[other.name] = await other.seed(on.url, tokens, caseCount);
    log(`predict: ${caseCount} prediction-ready cases each: ${model} (30 observations each), ${batchingModels.map((other) => `${other.name} (${other.cases})`).join(', ')}`);
    const servers = { on, off };
    const phases: Phase[] = [];
    const run = async (batching: boolean, explain: boolean, clients: number, seconds: number, record: boolean, phaseModel = model) => {
      const server = batching ? servers.on : servers.off;
      const [query, caseIds] = [predictDocument(phaseModel), cases[phaseModel]!];
      let next = 0;
      const body = () => JSON.stringify({ query, variables: { caseId: caseIds[next++ % caseIds.length], explain }, operationName: 'Predict' });
      const before = await scrapeMetrics(server);
      if (record) await toggleProfile(server);
      const startedAt = new Date();
      const load = await runLoad({
        label: `predict ${phaseModel}, batching ${batching ? 'on' : 'off'}, explain ${explain ? 'on' : 'off'}, ${clients} clients`,
        server,
        connections: clients,
        seconds,
        body,
        headers: { authorization: `Bearer ${tokens.clinician}` },
        warmUp: !record,
        databaseUrl,
      });
      if (!record) return;
      await toggleProfile(server, `${phaseModel}-explain-${explain ? 'on' : 'off'}-${clients}-clients`);
      // In-flight requests of the phase finish within a moment of the load's end.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = await scrapeMetrics(server);
      const stored = await storedTimings(databaseUrl, startedAt, new Date());
      const split = predictSplit(before, after, load, stored, phaseModel);
      phases.push({ model: phaseModel, explain, clients, batching, load, split });
      log(
        `  ${phaseModel} batching ${batching ? 'on ' : 'off'} explain ${explain ? 'on ' : 'off'} ${String(clients).padStart(2)} clients: ${fmt.n(load.rps).padStart(6)} req/s  p50 ${fmt.ms(load.p50)}  p99 ${fmt.ms(load.p99)}  batch ${fmt.n(split.batchSize)}  CPU ${fmt.ms(split.cpuMs)}/req`,
      );
    };
    log(`predict: warming up (${settings.warmSeconds} s per server)`);
    for (const batching of [true, false]) await run(batching, true, 16, settings.warmSeconds, false);
    // A closed loop of 64 clients needs a few response times to reach its steady state.
    const seconds = (clients: number) => (clients >= 64 ? Math.max(settings.loadSeconds, settings.short ? 6 : 15) : settings.loadSeconds);
    // The target's comparison (64 clients, on vs off) is repeated in full runs, alternating (the pair's order reversed
    // every other round, see inRoundOrder), for a per-round ratio.
    const repeats = (clients: number) => (clients >= 64 && !settings.short ? 4 : 1);
    for (const explain of [true, false]) {
      // Short mode: without explanations at 64 clients only (the batching comparison).
      for (const clients of explain || !settings.short ? concurrencies : [64]) {
        for (let round = 0; round < repeats(clients); round++) {
          for (const batching of inRoundOrder([true, false], round)) await run(batching, explain, clients, seconds(clients), true);
        }
      }
    }
    // Issue 14: batching where the model's compute is a larger share of a request (explanations off: they are not batched).
    for (const other of batchingModels) {
      for (const batching of [true, false]) await run(batching, false, 16, settings.warmSeconds, false, other.name);
      for (let round = 0; round < repeats(64); round++) {
        for (const batching of inRoundOrder([true, false], round)) await run(batching, false, 64, seconds(64), true, other.name);
      }
    }
    printPredict(phases.filter((phase) => phase.model === model));
    for (const other of batchingModels) printModelBatching(other, phases.filter((phase) => phase.model === other.name));
  } finally {
    await Promise.all([on.stop(), off?.stop()]);
  }
}

/** Means of the timings stored with the predictions made in a time window. */
async function storedTimings(databaseUrl: string, from: Date, to: Date) {
  const { rows } = await adminQuery(
    databaseUrl,
    `SELECT count(*)::int AS n,
            avg("latencyMs") AS service,
            avg((output->'timings'->>'modelMs')::float8) AS model,
            avg((output->'timings'->>'explanationMs')::float8) AS explanation
       FROM "Prediction" WHERE "createdAt" >= $1 AND "createdAt" <= $2`,
    [from, to],
  );
  const row = rows[0] as { n: number; service: number | null; model: number | null; explanation: number | null };
  return { predictions: row.n, serviceMs: row.service ?? NaN, modelWaitMs: row.model ?? NaN, explanationMs: row.explanation ?? NaN };
}

function predictSplit(before: Samples, after: Samples, load: LoadFigures, stored: Awaited<ReturnType<typeof storedTimings>>, model: string): PredictSplit {
  const requests = delta(before, after, 'clinigraph_graphql_request_duration_seconds_count', { operation: 'Predict' });
  const batches = delta(before, after, 'clinigraph_model_inference_duration_seconds_count', { model });
  const inferenceSeconds = delta(before, after, 'clinigraph_model_inference_duration_seconds_sum', { model });
  const rows = delta(before, after, 'clinigraph_model_batch_size_sum', { model });
  const cpuSeconds = delta(before, after, 'clinigraph_process_cpu_seconds_total');
  const appends = delta(before, after, 'clinigraph_audit_append_duration_seconds_count');
  return {
    httpMs: load.mean,
    graphqlMs: (delta(before, after, 'clinigraph_graphql_request_duration_seconds_sum', { operation: 'Predict' }) * 1000) / requests,
    serviceMs: stored.serviceMs,
    modelWaitMs: stored.modelWaitMs,
    modelComputeMs: (inferenceSeconds * 1000) / batches,
    modelPerRowMs: (inferenceSeconds * 1000) / rows,
    batchSize: rows / batches,
    explanationMs: stored.explanationMs,
    dbMs: (delta(before, after, 'clinigraph_db_query_duration_seconds_sum') * 1000) / requests,
    dbStatements: delta(before, after, 'clinigraph_db_query_duration_seconds_count') / requests,
    auditAppendMs: (delta(before, after, 'clinigraph_audit_append_duration_seconds_sum') * 1000) / appends,
    cpuMs: (cpuSeconds * 1000) / requests,
    modelCpuShare: inferenceSeconds / cpuSeconds,
    eventLoopP99Ms: total(after, 'clinigraph_nodejs_eventloop_lag_p99_seconds') * 1000,
    predictions: stored.predictions,
  };
}

function printPredict(phases: Phase[]): void {
  const all = (explain: boolean, clients: number, batching: boolean) => phases.filter((p) => p.explain === explain && p.clients === clients && p.batching === batching);
  /** The phase of a configuration with the median throughput (the configuration may have run several times). */
  const find = (explain: boolean, clients: number, batching: boolean) => {
    const list = [...all(explain, clients, batching)].sort((a, b) => a.load.rps - b.load.rps);
    return list[Math.floor((list.length - 1) / 2)];
  };
  const ratio = (explain: boolean, clients: number) => onOffRatio(all(explain, clients, true), all(explain, clients, false));
  for (const explain of [true, false]) {
    console.log(`\n### Predict (${model}), explanations ${explain ? 'on (default)' : 'off (explain: false)'}: throughput and latency\n`);
    const rows: (string | number)[][] = [];
    for (const clients of concurrencies) {
      const a = find(explain, clients, true);
      const b = find(explain, clients, false);
      if (!a || !b) continue;
      rows.push([
        `${clients}`,
        fmt.n(a.load.rps),
        fmt.ms(a.load.p50),
        fmt.ms(a.load.p99),
        fmt.n(a.split.batchSize),
        fmt.n(b.load.rps),
        fmt.ms(b.load.p50),
        fmt.ms(b.load.p99),
        fmt.x(ratio(explain, clients).value),
      ]);
    }
    console.log(table(['clients', 'on: req/s', 'on: p50', 'on: p99', 'on: mean batch', 'off: req/s', 'off: p50', 'off: p99', 'on / off'], rows));
    console.log('\nTime split, mean per request (model compute = the tensor run a request waits on; SQL = sum of its statements):\n');
    const split: (string | number)[][] = [];
    for (const clients of concurrencies) {
      for (const batching of [true, false]) {
        const p = find(explain, clients, batching);
        if (!p) continue;
        const s = p.split;
        split.push([
          `${clients} clients, batching ${batching ? 'on' : 'off'}`,
          fmt.ms(s.httpMs),
          fmt.ms(s.graphqlMs),
          fmt.ms(s.serviceMs),
          fmt.ms(s.modelWaitMs),
          `${fmt.ms(s.modelComputeMs)} (${fmt.pct(s.modelComputeMs / s.httpMs)})`,
          fmt.ms(s.modelPerRowMs),
          `${fmt.ms(s.explanationMs)} (${fmt.pct(s.explanationMs / s.httpMs)})`,
          `${fmt.ms(s.dbMs)} / ${fmt.n(s.dbStatements)}`,
          fmt.ms(s.auditAppendMs),
          fmt.ms(s.cpuMs),
          fmt.ms(p.load.postgresCpuMsPerRequest),
          fmt.pct(s.modelCpuShare),
          fmt.n(p.load.serverCores),
          fmt.ms(s.eventLoopP99Ms),
          p.load.sessions ? `${fmt.n(p.load.sessions.active)} / ${fmt.n(p.load.sessions.idleInTransaction)} / ${fmt.n(p.load.sessions.advisoryWaiters)}` : 'n/a',
        ]);
      }
    }
    console.log(
      table(
        ['phase', 'HTTP', 'GraphQL', 'service', 'model wait', 'model compute (share)', 'model/row', 'explanation (share)', 'SQL time / stmts', 'audit append', 'CPU', 'PG CPU', 'model share of CPU', 'server cores', 'loop lag p99', 'PG active / idle in tx / lock waiters'],
        split,
      ),
    );
  }
  for (const explain of [true, false]) {
    const a = find(explain, 64, true);
    const b = find(explain, 64, false);
    if (!a || !b) continue;
    const { value, rounds } = ratio(explain, 64);
    verdict(
      '5 predict',
      `batching on / off at 64 clients, explanations ${explain ? 'on (default)' : 'off'}`,
      `${fmt.n(a.load.rps)} / ${fmt.n(b.load.rps)} req/s: ${fmt.x(value)}${rounds > 1 ? ` (median of ${rounds} rounds)` : ''}`,
      explain ? '>= 4x' : '>= 4x (same target, explain: false)',
      value >= 4,
    );
    if (!explain) {
      // Issue 14: once the write no longer queues on one lock, batching the model shows.
      verdict('14 ledger', 'inference batching on / off at 64 clients, explanations off', `${fmt.x(value)}${rounds > 1 ? ` (median of ${rounds} rounds)` : ''}`, '≥ 2x', value >= 2);
    }
    const share = a.split.modelComputeMs / a.split.httpMs;
    verdict(
      '5 predict',
      `model compute share of request time, 64 clients, batching on, explanations ${explain ? 'on' : 'off'}`,
      `${fmt.ms(a.split.modelComputeMs)} of ${fmt.ms(a.split.httpMs)} = ${fmt.pct(share)} (of CPU: ${fmt.pct(a.split.modelCpuShare)})`,
      '< 10%',
      share < 0.1,
    );
  }
  for (const clients of concurrencies) {
    for (const explain of [true, false]) {
      const a = find(explain, clients, true);
      if (a) verdict('5 predict', `p50 / p99 at ${clients} clients, batching on, explanations ${explain ? 'on' : 'off'}`, `${fmt.ms(a.load.p50)} / ${fmt.ms(a.load.p99)}`, '(reported)', undefined);
    }
  }
  const rss = (batching: boolean) => Math.max(...phases.filter((p) => p.batching === batching).map((p) => p.load.rssMiB));
  verdict('4 memory', 'RSS after predict phases: batching on', fmt.mib(rss(true)), '(reported)', undefined);
  verdict('4 memory', 'RSS after predict phases: batching off', fmt.mib(rss(false)), '(reported)', undefined);
}

/** Median over rounds of on/off throughput, each round's phases run back to back. */
function onOffRatio(on: Phase[], off: Phase[]): { value: number; rounds: number } {
  return { value: median(on.map((p, i) => p.load.rps / (off[i]?.load.rps ?? NaN))), rounds: on.length };
}

/**
 * One of issue 14's models, batching on / off at 64 clients, explanations off:
 * throughput, batch, and the server's CPU, model compute and its share a request.
 */
function printModelBatching(batchingModel: BatchingModel, phases: Phase[]): void {
  const [on, off] = [phases.filter((p) => p.batching), phases.filter((p) => !p.batching)];
  if (on.length === 0 || off.length === 0) return;
  console.log(`\n### Predict (${batchingModel.name}, ${batchingModel.kind}), explanations off, 64 clients: batching on and off\n`);
  // Server cores busy and PostgreSQL's CPU a request tell whether the server, or the database beside it on the same cores, sets the rate.
  const side = (p: Phase) => [
    fmt.n(p.load.rps), fmt.ms(p.load.p99), fmt.n(p.split.batchSize), fmt.ms(p.split.cpuMs), fmt.ms(p.split.modelPerRowMs), fmt.pct(p.split.modelCpuShare),
    fmt.n(p.load.serverCores), fmt.ms(p.load.postgresCpuMsPerRequest), fmt.n(p.split.dbStatements),
  ];
  const columns = ['req/s', 'p99', 'mean batch', 'CPU / req', 'model / row', 'model share of CPU', 'server cores', 'PG CPU / req', 'statements'];
  console.log(
    table(
      ['round', ...columns.map((column) => `on: ${column}`), ...columns.map((column) => `off: ${column}`), 'on / off'],
      on.map((a, i) => [`${i + 1}`, ...side(a), ...side(off[i]!), fmt.x(a.load.rps / off[i]!.load.rps)]),
    ),
  );
  const { value, rounds } = onOffRatio(on, off);
  verdict('14 ledger', `inference batching on / off at 64 clients, ${batchingModel.name} (${batchingModel.kind}), explanations off`, `${fmt.x(value)}${rounds > 1 ? ` (median of ${rounds} rounds)` : ''}`, '≥ 2x', value >= 2);
}
