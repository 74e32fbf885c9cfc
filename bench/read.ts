import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestDatabase } from '../test/support/test-database.ts';
import type { BenchContext } from './lib/context.ts';
import { type DatabaseSessions, gql, type LoadFigures, problems, runLoad } from './lib/load.ts';
import { delta, type Samples } from './lib/prometheus.ts';
import { fmt, inRoundOrder, log, median, table, verdict } from './lib/report.ts';
import { seedReadPatient } from './lib/seed.ts';
import { type ChildServer, clinigraphEnv, scrapeMetrics, startChild, startClinigraph, toggleProfile } from './lib/servers.ts';

/** The read benchmark's query: a patient with its cases, their observations and predictions. */
export const detailQuery = `query PatientDetail($id: ID!) {
  patient(id: $id) {
    id mrn givenName familyName birthDate sex
    cases {
      id title status
      observations { code value unit }
      predictions { label probabilities { label probability } }
    }
  }
}`;

const connections = 50;

interface Target {
  key: string;
  label: string;
  server: ChildServer;
  /** Bearer token, or none (the baseline has no authentication). */
  token?: string;
  metrics?: boolean;
  databaseUrl?: string;
}

/** Per-request server-side figures of a clinigraph phase, from /metrics. */
export interface ServerSplit {
  sessions?: DatabaseSessions | undefined;
  graphqlMs: number;
  dbStatements: number;
  dbMsSum: number;
  auditAppends: number;
  auditRecordsPerAppend: number;
  auditAppendMs: number;
  eventLoopP99Ms: number;
}

function serverSplit(before: Samples, after: Samples, operation: string): ServerSplit {
  const requests = delta(before, after, 'clinigraph_graphql_request_duration_seconds_count', { operation });
  const appends = delta(before, after, 'clinigraph_audit_append_duration_seconds_count');
  return {
    graphqlMs: (delta(before, after, 'clinigraph_graphql_request_duration_seconds_sum', { operation }) * 1000) / requests,
    dbStatements: delta(before, after, 'clinigraph_db_query_duration_seconds_count') / requests,
    dbMsSum: (delta(before, after, 'clinigraph_db_query_duration_seconds_sum') * 1000) / requests,
    auditAppends: appends / requests,
    auditRecordsPerAppend: delta(before, after, 'clinigraph_audit_records_total') / appends,
    auditAppendMs: (delta(before, after, 'clinigraph_audit_append_duration_seconds_sum') * 1000) / appends,
    eventLoopP99Ms: after.find((s) => s.name === 'clinigraph_nodejs_eventloop_lag_p99_seconds')!.value * 1000,
  };
}

export interface ReadResults {
  figures: Map<string, LoadFigures[]>;
  splits: Map<string, ServerSplit[]>;
  /** clinigraph (audit on) paced at the target's throughput: 0.4 of the tuned baseline's. */
  paced?: LoadFigures & { rate: number };
}

/**
 * Latency at a load the target asks clinigraph to carry rather than at its
 * limit: the same 50 connections, paced to 0.4 of the tuned baseline's throughput.
 * In the closed-loop rounds every server runs flat out, so latency there is
 * connections / throughput (Little's law) plus queueing.
 */
async function pacedPhase(server: ChildServer, body: string, token: string, rate: number, seconds: number): Promise<LoadFigures & { rate: number }> {
  const figures = await runLoad({ label: 'read paced', server, connections, seconds, body, headers: { authorization: `Bearer ${token}` }, rate: Math.round(rate) });
  log(`read path: paced at ${fmt.n(rate)} req/s (0.4 of the tuned baseline): ${fmt.n(figures.rps)} req/s, p50 ${fmt.ms(figures.p50)}, p99 ${fmt.ms(figures.p99)}`);
  return { ...figures, rate };
}

/**
 * Issue 6, read path and audit cost: the patient-detail query as the care
 * team's clinician, 50 connections, against clinigraph on PostgreSQL with
 * reads audited (the default) and with AUDIT_READS=false, against bare
 * Apollo Server baselines answering the same document from memory (the
 * target's: production mode, no cache-control; Apollo's defaults for
 * information), and against the floor, a plain node:http + pg server reading
 * the same answer from the same database (bench/floor-server.ts). Phases
 * alternate between the servers, round after round, in an order reversed
 * every other round (see inRoundOrder), so drift in the machine's load hits all
 * of them alike.
 */
export async function readBenchmark(ctx: BenchContext): Promise<void> {
  const { settings, tokens } = ctx;
  log('read path: creating the database and starting clinigraph (audit on)');
  const database = { databaseUrl: await ctx.databases.create('read'), dataDir: await ctx.tempDir('read') };
  const auditOn = await startClinigraph('clinigraph (PostgreSQL, audit on)', await clinigraphEnv(database), ctx.profile('read-audit-on'));
  const patientId = await seedReadPatient(auditOn.url, tokens, 'BENCH-READ-0001');
  const answer = await gql(auditOn.url, tokens.clinician, detailQuery, { id: patientId });
  const cases = answer.patient.cases as { observations: unknown[]; predictions: unknown[] }[];
  const observations = cases.reduce((sum, c) => sum + c.observations.length, 0);
  const predictions = cases.reduce((sum, c) => sum + c.predictions.length, 0);
  const bytes = JSON.stringify({ data: answer }).length;
  log(`read path: patient with ${cases.length} cases, ${observations} observations, ${predictions} predictions (${bytes} bytes of JSON)`);
  const dataFile = path.join(await ctx.tempDir('baseline'), 'patient.json');
  await writeFile(dataFile, JSON.stringify(answer.patient));

  const [auditOff, baseline, tuned, floor] = await Promise.all([
    startClinigraph('clinigraph (PostgreSQL, audit off)', await clinigraphEnv(database, { AUDIT_READS: 'false' }), ctx.profile('read-audit-off')),
    startChild('baseline Apollo (defaults)', 'bench/baseline-server.ts', { BASELINE_DATA: dataFile, BASELINE_VARIANT: 'default' }),
    startChild('baseline Apollo (tuned)', 'bench/baseline-server.ts', { BASELINE_DATA: dataFile, BASELINE_VARIANT: 'tuned', NODE_ENV: 'production' }),
    startChild('floor (node:http + pg)', 'bench/floor-server.ts', { FLOOR_DATABASE_URL: database.databaseUrl, NODE_ENV: 'production' }),
  ]);
  try {
    // The baselines and the floor must answer exactly what clinigraph answers.
    for (const server of [baseline, tuned, floor]) {
      const theirs = await gql(server.url, '', detailQuery, { id: patientId });
      if (JSON.stringify(theirs) !== JSON.stringify(answer)) problems.push(`${server.name} does not answer what clinigraph answers`);
    }
    const targets: Target[] = [
      { key: 'baseline', label: 'Apollo baseline (defaults)', server: baseline },
      { key: 'auditOn', label: 'clinigraph, PostgreSQL, audit on', server: auditOn, token: tokens.clinician, metrics: true, databaseUrl: database.databaseUrl },
      { key: 'auditOff', label: 'clinigraph, PostgreSQL, audit off', server: auditOff, token: tokens.clinician, metrics: true, databaseUrl: database.databaseUrl },
      { key: 'tuned', label: 'Apollo baseline (production, no cache-control)', server: tuned },
      { key: 'floor', label: 'floor: node:http + pg, three queries', server: floor, databaseUrl: database.databaseUrl },
    ];
    const body = JSON.stringify({ query: detailQuery, variables: { id: patientId }, operationName: 'PatientDetail' });
    const results: ReadResults = { figures: new Map(), splits: new Map() };
    const phase = async (target: Target, seconds: number, record: boolean) => {
      const before = target.metrics ? await scrapeMetrics(target.server) : undefined;
      const figures = await runLoad({
        label: `read ${target.label}`,
        server: target.server,
        connections,
        seconds,
        body,
        headers: target.token ? { authorization: `Bearer ${target.token}` } : {},
        warmUp: !record,
        databaseUrl: target.databaseUrl,
      });
      if (!record) return;
      if (!results.figures.has(target.key)) results.figures.set(target.key, []);
      results.figures.get(target.key)!.push(figures);
      if (before) {
        if (!results.splits.has(target.key)) results.splits.set(target.key, []);
        results.splits.get(target.key)!.push({ ...serverSplit(before, await scrapeMetrics(target.server), 'PatientDetail'), sessions: figures.sessions });
      }
      log(`  ${target.label.padEnd(48)} ${fmt.n(figures.rps).padStart(6)} req/s  p50 ${fmt.ms(figures.p50)}  p99 ${fmt.ms(figures.p99)}  RSS ${fmt.mib(figures.rssMiB)}`);
    };
    log(`read path: warming up (${settings.warmSeconds} s each)`);
    for (const target of targets) await phase(target, settings.warmSeconds, false);
    await Promise.all([toggleProfile(auditOn), toggleProfile(auditOff)]);
    for (let round = 1; round <= settings.readRounds; round++) {
      log(`read path: round ${round} of ${settings.readRounds} (${settings.loadSeconds} s per server, ${connections} connections)`);
      for (const target of inRoundOrder(targets, round - 1)) await phase(target, settings.loadSeconds, true);
    }
    await Promise.all([toggleProfile(auditOn, 'rounds'), toggleProfile(auditOff, 'rounds')]);
    results.paced = await pacedPhase(auditOn, body, tokens.clinician, 0.4 * median(results.figures.get('tuned')!.map((f) => f.rps)), settings.loadSeconds);

    if (settings.embedded) {
      await Promise.all([auditOn.stop(), auditOff.stop(), baseline.stop(), floor.stop()]);
      await embeddedReadPath(ctx, results, tuned, phase);
    }
    printRead(results, { cases: cases.length, observations, predictions, bytes });
  } finally {
    await Promise.all([auditOn.stop(), auditOff.stop(), baseline.stop(), tuned.stop(), floor.stop()]);
  }
}

/**
 * The same read on the embedded database (PGlite, in the server process):
 * one server at a time (PGlite belongs to one process), audit on then off,
 * each next to a fresh phase of the tuned baseline.
 */
async function embeddedReadPath(
  ctx: BenchContext,
  results: ReadResults,
  baseline: ChildServer,
  phase: (target: Target, seconds: number, record: boolean) => Promise<void>,
): Promise<void> {
  const { settings, tokens } = ctx;
  log('read path, embedded database: copying the migrated template and starting clinigraph (audit on)');
  const embedded = await createTestDatabase({ embedded: true });
  try {
    let patientId: string | undefined;
    for (const [key, audit] of [['embeddedOn', 'true'], ['embeddedOff', 'false']] as const) {
      const label = `clinigraph, embedded, audit ${audit === 'true' ? 'on' : 'off'}`;
      const server = await startClinigraph(label, await clinigraphEnv({ dataDir: embedded.dataDir }, { AUDIT_READS: audit }), ctx.profile(key));
      try {
        patientId ??= await seedReadPatient(server.url, tokens, 'BENCH-READ-0001');
        const body = JSON.stringify({ query: detailQuery, variables: { id: patientId }, operationName: 'PatientDetail' });
        const runTarget = async (seconds: number, record: boolean) => {
          const figures = await runLoad({ label: `read ${label}`, server, connections, seconds, body, headers: { authorization: `Bearer ${tokens.clinician}` }, warmUp: !record });
          if (!record) return;
          if (!results.figures.has(key)) results.figures.set(key, []);
          results.figures.get(key)!.push(figures);
          log(`  ${label.padEnd(48)} ${fmt.n(figures.rps).padStart(6)} req/s  p50 ${fmt.ms(figures.p50)}  p99 ${fmt.ms(figures.p99)}  RSS ${fmt.mib(figures.rssMiB)}`);
        };
        await runTarget(settings.warmSeconds, false);
        await phase({ key: `tuned-${key}`, label: 'Apollo baseline (production, no cache-control)', server: baseline }, settings.loadSeconds, true);
        await toggleProfile(server);
        await runTarget(settings.loadSeconds, true);
        await toggleProfile(server, 'load');
      } finally {
        await server.stop();
      }
    }
  } finally {
    await embedded.drop();
  }
}

function printRead(results: ReadResults, shape: { cases: number; observations: number; predictions: number; bytes: number }): void {
  const get = (key: string) => results.figures.get(key) ?? [];
  const agg = (key: string) => {
    const list = get(key);
    return {
      rps: median(list.map((f) => f.rps)),
      p50: median(list.map((f) => f.p50)),
      p99: median(list.map((f) => f.p99)),
      cpu: median(list.map((f) => f.serverCpuMsPerRequest)),
      pgCpu: median(list.map((f) => f.postgresCpuMsPerRequest)),
      cores: median(list.map((f) => f.serverCores)),
      loadGen: median(list.map((f) => f.loadGenCores)),
      busy: median(list.map((f) => f.machineBusy)),
      rss: Math.max(...list.map((f) => f.rssMiB)),
      rounds: list.length,
    };
  };
  const base = agg('baseline');
  const tuned = agg('tuned');
  const rows: (string | number)[][] = [];
  const labels: Record<string, string> = {
    baseline: 'Apollo baseline, defaults (information)',
    tuned: 'Apollo baseline, NODE_ENV=production, no cache-control (the target\'s)',
    floor: 'floor: node:http + pg, three queries, nothing else',
    auditOn: 'clinigraph, PostgreSQL, audit on',
    auditOff: 'clinigraph, PostgreSQL, audit off',
    'tuned-embeddedOn': 'Apollo baseline, tuned (next to embedded, audit on)',
    embeddedOn: 'clinigraph, embedded (PGlite), audit on',
    'tuned-embeddedOff': 'Apollo baseline, tuned (next to embedded, audit off)',
    embeddedOff: 'clinigraph, embedded (PGlite), audit off',
  };
  for (const key of Object.keys(labels)) {
    if (!results.figures.has(key)) continue;
    const a = agg(key);
    const ref = key.startsWith('embedded') ? agg(`tuned-${key}`) : tuned;
    rows.push([
      labels[key]!,
      fmt.n(a.rps),
      fmt.ms(a.p50),
      fmt.ms(a.p99),
      key === 'tuned' || key.startsWith('tuned-') ? '' : fmt.x(a.rps / ref.rps),
      fmt.n(a.cpu),
      Number.isFinite(a.pgCpu) ? fmt.n(a.pgCpu) : '',
      fmt.n(a.cores),
      fmt.n(a.loadGen),
      fmt.pct(a.busy),
      fmt.mib(a.rss),
    ]);
  }
  console.log(
    `\n### Read path: patient detail (${shape.cases} cases, ${shape.observations} observations, ${shape.predictions} predictions; ${shape.bytes} bytes), 50 connections, median of ${tuned.rounds} round(s)\n`,
  );
  console.log(
    table(['server', 'req/s', 'p50', 'p99', 'vs tuned baseline', 'server CPU ms/req', 'PostgreSQL CPU ms/req', 'server cores', 'load-gen cores', 'machine busy', 'RSS after'], rows),
  );
  const splitRows: (string | number)[][] = [];
  for (const key of ['auditOn', 'auditOff']) {
    const list = results.splits.get(key) ?? [];
    if (!list.length) continue;
    const m = (pick: (s: ServerSplit) => number) => median(list.map(pick));
    splitRows.push([
      labels[key]!,
      fmt.ms(m((s) => s.graphqlMs)),
      fmt.n(m((s) => s.dbStatements)),
      fmt.ms(m((s) => s.dbMsSum)),
      fmt.n(m((s) => s.auditAppends)),
      fmt.n(m((s) => s.auditRecordsPerAppend)),
      fmt.ms(m((s) => s.auditAppendMs)),
      fmt.ms(m((s) => s.eventLoopP99Ms)),
      fmt.n(m((s) => s.sessions?.active ?? NaN)),
      fmt.n(m((s) => s.sessions?.idleInTransaction ?? NaN)),
      fmt.n(m((s) => s.sessions?.advisoryWaiters ?? NaN)),
    ]);
  }
  console.log('\nServer side, per request (from /metrics):\n');
  console.log(
    table(
      ['server', 'GraphQL time', 'SQL statements', 'SQL time (sum)', 'audit appends', 'records per append', 'append time', 'event-loop lag p99', 'PG active', 'PG idle in tx', 'PG lock waiters'],
      splitRows,
    ),
  );

  const on = agg('auditOn');
  const off = agg('auditOff');
  const floor = agg('floor');
  // Ratios of phases run next to each other (same round), then the median: drift between rounds cancels.
  const perRound = (a: string, b: string) => median(get(a).map((f, i) => f.rps / (get(b)[i]?.rps ?? NaN)));
  const rounds = `median of ${get('auditOn').length} round(s)`;
  const ratioTuned = perRound('auditOn', 'tuned');
  verdict('1 read path', 'clinigraph (PostgreSQL, audit on) / tuned Apollo baseline (NODE_ENV=production, no cache-control), req/s', `${fmt.n(on.rps)} / ${fmt.n(tuned.rps)}: ${fmt.x(ratioTuned)} (${rounds})`, '>= 0.40x', ratioTuned >= 0.4);
  verdict('1 read path', 'same / Apollo baseline (defaults)', `${fmt.n(on.rps)} / ${fmt.n(base.rps)}: ${fmt.x(perRound('auditOn', 'baseline'))}`, '(information)', undefined);
  verdict('1 read path', 'floor (node:http + pg, three queries) / tuned Apollo baseline', `${fmt.n(floor.rps)} / ${fmt.n(tuned.rps)}: ${fmt.x(perRound('floor', 'tuned'))}; clinigraph / floor ${fmt.x(perRound('auditOn', 'floor'))}`, '(information)', undefined);
  verdict('1 read path', 'server CPU per audited read', `${fmt.n(on.cpu)} ms (tuned baseline ${fmt.n(tuned.cpu)}, floor ${fmt.n(floor.cpu)} ms; PostgreSQL ${fmt.n(on.pgCpu)} ms)`, '<= 1.3 ms', on.cpu <= 1.3);
  verdict('1 read path', 'clinigraph p99 (p50), audit on', `${fmt.ms(on.p99)} (${fmt.ms(on.p50)})`, 'p99 <= 100 ms', on.p99 <= 100);
  if (results.paced) {
    const { paced } = results;
    verdict(
      '1 read path',
      'clinigraph p99 (p50), paced at 0.4 of the tuned baseline (50 connections)',
      `${fmt.ms(paced.p99)} (${fmt.ms(paced.p50)}) at ${fmt.n(paced.rps)} of ${fmt.n(paced.rate)} req/s asked`,
      '(information)',
      undefined,
    );
  }
  verdict('1 read path', 'tuned Apollo baseline p50 / p99', `${fmt.ms(tuned.p50)} / ${fmt.ms(tuned.p99)}`, '(reference)', undefined);
  const cost = 1 - perRound('auditOn', 'auditOff');
  verdict('2 audit cost', 'throughput lost to read auditing (PostgreSQL)', `${fmt.n(off.rps)} -> ${fmt.n(on.rps)} req/s: ${fmt.pct(cost)} (${rounds})`, '<= 10%', cost <= 0.1);
  verdict('2 audit cost', 'CPU per request, audit on vs off (server + PostgreSQL)', `${fmt.n(on.cpu + on.pgCpu)} vs ${fmt.n(off.cpu + off.pgCpu)} ms (+${fmt.pct((on.cpu + on.pgCpu) / (off.cpu + off.pgCpu) - 1)})`, '(load-independent view)', undefined);
  if (results.figures.has('embeddedOn') && results.figures.has('embeddedOff')) {
    const eOn = agg('embeddedOn');
    const eOff = agg('embeddedOff');
    const eBase = agg('tuned-embeddedOn');
    verdict('1 read path', 'embedded (PGlite), audit on: p99 (req/s / tuned baseline)', `${fmt.ms(eOn.p99)} (${fmt.n(eOn.rps)} / ${fmt.n(eBase.rps)} = ${fmt.x(eOn.rps / eBase.rps)})`, 'p99 <= 500 ms', eOn.p99 <= 500);
    verdict('2 audit cost', 'throughput lost to read auditing (embedded)', `${fmt.n(eOff.rps)} -> ${fmt.n(eOn.rps)} req/s: ${fmt.pct(1 - eOn.rps / eOff.rps)}`, '(information)', undefined);
  }
  for (const key of ['auditOn', 'auditOff', 'embeddedOn', 'embeddedOff']) {
    if (results.figures.has(key)) verdict('4 memory', `RSS after read phases: ${labels[key]}`, fmt.mib(agg(key).rss), '(reported)', undefined);
  }
}
