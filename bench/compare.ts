#!/usr/bin/env tsx
/**
 * A/B comparison of two copies of clinigraph (or two settings) on one
 * benchmark scenario, in the same run, phases alternating A, B, A, B, ... so
 * the shared machine's drifting load hits both alike. For checking a
 * proposed server change before it is made: copy the project, change the
 * copy, compare.
 *
 *   npx tsx bench/compare.ts --b /tmp/clinigraph-changed --scenario read
 *   npx tsx bench/compare.ts --scenario predict --env-b PREDICT_MAX_BATCH=1 --rounds 5
 *
 * --a DIR, --b DIR     project copies the servers run from (default: this checkout); a copy
 *                      needs src/, prisma/, models/, datasets/, schema.graphql and a node_modules
 *                      (a symlink to this checkout's is fine)
 * --env-a K=V, --env-b K=V   extra server settings (repeatable)
 * --scenario           read (patient detail, 50 connections), read-1 (the same, 1 connection),
 *                      predict (64 clients, explanations on), predict-noexplain,
 *                      list-deep (the page after the middle of --patients patients, 2 clients)
 * --embedded           read scenarios on the embedded database (PGlite): each server its own copy,
 *                      each seeded with the same patient
 * --rounds N (default 5), --seconds S (default 8), --patients N (default 200000), --profile DIR
 */
import { parseArgs } from 'node:util';
import { encodeCursor } from '../src/graphql/paging.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/test-database.ts';
import { createContext } from './lib/context.ts';
import { gql, type LoadFigures, problems, runLoad } from './lib/load.ts';
import { delta } from './lib/prometheus.ts';
import { adminQuery, BenchDatabases } from './lib/postgres.ts';
import { fmt, median, table } from './lib/report.ts';
import { seedPredictionCases, seedReadPatient } from './lib/seed.ts';
import { type ChildServer, clinigraphEnv, scrapeMetrics, serverNodeFlags, startChild, stopAllChildren, toggleProfile } from './lib/servers.ts';
import { predictMutation } from './predict.ts';
import { detailQuery } from './read.ts';
import { seedPatients } from './seed-patients.ts';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    'env-a': { type: 'string', multiple: true, default: [] },
    'env-b': { type: 'string', multiple: true, default: [] },
    scenario: { type: 'string', default: 'read' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '8' },
    patients: { type: 'string', default: '200000' },
    profile: { type: 'string' },
    embedded: { type: 'boolean', default: false },
  },
});
const scenario = values.scenario!;
if (!['read', 'read-1', 'predict', 'predict-noexplain', 'list-deep'].includes(scenario)) {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
if (values.embedded && !scenario.startsWith('read')) {
  console.error('--embedded: read scenarios only');
  process.exit(2);
}
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const envOf = (pairs: string[]) => Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
const databases = new BenchDatabases(process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
const ctx = await createContext(
  { short: false, loadSeconds: seconds, latencySeconds: seconds, warmSeconds: 2, readRounds: rounds, growthRounds: rounds, growthSmall: 0, growthLarge: 0, embedded: false, only: new Set(), profileDir: values.profile },
  databases,
);

async function start(label: string, dir: string | undefined, env: Record<string, string>): Promise<ChildServer> {
  // startClinigraph with a per-server project directory.
  const server = await startChild(`${label}`, 'src/server/main.ts', env, ctx.profile(label), dir ?? undefined, serverNodeFlags);
  const readyz = server.url.replace(/\/graphql$/, '/readyz');
  for (let i = 0; i < 600; i++) {
    if ((await fetch(readyz).then((r) => r.status, () => 0)) === 200) return server;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${label} was not ready`);
}

/** A phase's figures, with the server's database statements per request (from /metrics: independent of the machine's load). */
type PhaseFigures = LoadFigures & { statementsPerRequest: number };
const figures: Record<'A' | 'B', PhaseFigures[]> = { A: [], B: [] };
let embedded: TestDatabase[] | undefined;
try {
  // Embedded: a PGlite directory per server (one process each), copied from the migrated template.
  embedded = values.embedded ? await Promise.all([createTestDatabase({ embedded: true }), createTestDatabase({ embedded: true })]) : undefined;
  const databaseUrl = embedded ? undefined : await databases.create('compare');
  const dataDir = await ctx.tempDir('compare');
  const listDeep = scenario === 'list-deep';
  const base = await clinigraphEnv({ databaseUrl, dataDir }, listDeep ? { DEFAULT_MODELS: 'false' } : {});
  if (listDeep) await seedPatients(databaseUrl!, Number(values.patients));
  // One after the other: both would install the default models into the empty registry at once.
  const a = await start('A', values.a, { ...base, ...(embedded ? { DATA_DIR: embedded[0]!.dataDir } : {}), ...envOf(values['env-a']!) });
  const b = await start('B', values.b, { ...base, ...(embedded ? { DATA_DIR: embedded[1]!.dataDir } : {}), ...envOf(values['env-b']!) });
  let body: (server: 'A' | 'B') => string | (() => string);
  let connections: number;
  let token = ctx.tokens.clinician;
  if (scenario.startsWith('read')) {
    const seed = (server: ChildServer) => seedReadPatient(server.url, ctx.tokens, 'BENCH-READ-0001');
    const patientA = await seed(a);
    const patientB = embedded ? await seed(b) : patientA;
    const theirs = await Promise.all([gql(a.url, token, detailQuery, { id: patientA }), gql(b.url, token, detailQuery, { id: patientB })]);
    // Embedded copies have ids of their own and default models trained on their own (labels, probabilities differ): the shape must match.
    const withoutIds = (answer: unknown) => (embedded ? JSON.stringify(answer).replace(/:("(?:[^"\\]|\\.)*"|[-\d.eE+]+|null)/g, ':_') : JSON.stringify(answer));
    if (withoutIds(theirs[0]) !== withoutIds(theirs[1])) problems.push('A and B answer the detail query differently');
    const bodies = { A: patientA, B: patientB };
    body = (server) => JSON.stringify({ query: detailQuery, variables: { id: bodies[server] }, operationName: 'PatientDetail' });
    connections = scenario === 'read-1' ? 1 : 50;
  } else if (scenario.startsWith('predict')) {
    const caseIds = await seedPredictionCases(a.url, ctx.tokens, 128);
    let next = 0;
    const explain = scenario === 'predict';
    body = () => () => JSON.stringify({ query: predictMutation, variables: { caseId: caseIds[next++ % caseIds.length], explain }, operationName: 'Predict' });
    connections = 64;
  } else {
    const count = Number(values.patients);
    const middle = (await adminQuery(databaseUrl!, `SELECT id, "createdAt" FROM "Patient" WHERE mrn = $1`, [`BENCH-${String(Math.floor(count / 2)).padStart(8, '0')}`])).rows[0];
    const listBody = JSON.stringify({
      query: 'query ListDeep($after: String) { patients(first: 20, after: $after) { edges { node { id mrn } } pageInfo { endCursor } } }',
      variables: { after: encodeCursor({ time: middle.createdAt, id: middle.id }) },
    });
    body = () => listBody;
    connections = 2;
    token = ctx.tokens.admin;
  }
  const servers = { A: a, B: b };
  const phase = async (key: 'A' | 'B', secs: number, warmUp = false): Promise<PhaseFigures> => {
    const before = await scrapeMetrics(servers[key]);
    const result = await load(key, secs, warmUp);
    const after = await scrapeMetrics(servers[key]);
    return { ...result, statementsPerRequest: delta(before, after, 'clinigraph_db_query_duration_seconds_count') / delta(before, after, 'clinigraph_graphql_request_duration_seconds_count') };
  };
  const load = (key: 'A' | 'B', secs: number, warmUp: boolean) =>
    runLoad({
      label: `${scenario} ${key}`,
      server: servers[key],
      connections,
      seconds: secs,
      body: body(key),
      headers: { authorization: `Bearer ${token}` },
      warmUp,
      databaseUrl,
    });
  await phase('A', 2, true);
  await phase('B', 2, true);
  await Promise.all([toggleProfile(a), toggleProfile(b)]);
  for (let round = 1; round <= rounds; round++) {
    // ABBA order: neither always goes first.
    for (const key of round % 2 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const result = await phase(key, seconds);
      figures[key].push(result);
      console.log(`round ${round} ${key}: ${fmt.n(result.rps)} req/s, p50 ${fmt.ms(result.p50)}, p99 ${fmt.ms(result.p99)}, CPU ${fmt.n(result.serverCpuMsPerRequest)} ms/req, PostgreSQL CPU ${fmt.n(result.postgresCpuMsPerRequest)} ms/req, ${fmt.n(result.statementsPerRequest)} statements/req, machine busy ${fmt.pct(result.machineBusy)}`);
    }
  }
  await Promise.all([toggleProfile(a, scenario), toggleProfile(b, scenario)]);
  const agg = (key: 'A' | 'B') => ({
    rps: median(figures[key].map((f) => f.rps)),
    p50: median(figures[key].map((f) => f.p50)),
    p99: median(figures[key].map((f) => f.p99)),
    cpu: median(figures[key].map((f) => f.serverCpuMsPerRequest)),
    pgCpu: median(figures[key].map((f) => f.postgresCpuMsPerRequest)),
    statements: median(figures[key].map((f) => f.statementsPerRequest)),
  });
  const [ra, rb] = [agg('A'), agg('B')];
  const wins = figures.B.filter((f, i) => f.rps > figures.A[i]!.rps).length;
  console.log(`\n${scenario}: A = ${values.a ?? 'this checkout'} ${values['env-a']!.join(' ')}; B = ${values.b ?? 'this checkout'} ${values['env-b']!.join(' ')}; median of ${rounds} rounds\n`);
  console.log(
    table(
      ['', 'req/s', 'p50', 'p99', 'server CPU ms/req', 'PostgreSQL CPU ms/req', 'statements/req'],
      [
        ['A', fmt.n(ra.rps), fmt.ms(ra.p50), fmt.ms(ra.p99), fmt.n(ra.cpu), fmt.n(ra.pgCpu), fmt.n(ra.statements)],
        ['B', fmt.n(rb.rps), fmt.ms(rb.p50), fmt.ms(rb.p99), fmt.n(rb.cpu), fmt.n(rb.pgCpu), fmt.n(rb.statements)],
        ['B / A', fmt.x(rb.rps / ra.rps), fmt.x(rb.p50 / ra.p50), fmt.x(rb.p99 / ra.p99), fmt.x(rb.cpu / ra.cpu), fmt.x(rb.pgCpu / ra.pgCpu), fmt.x(rb.statements / ra.statements)],
      ],
    ),
  );
  console.log(`B had the higher throughput in ${wins} of ${rounds} rounds.`);
  // Each round's A and B ran minutes apart at most: their ratio cancels the machine's drift better than the medians' ratio.
  const cpuRatios = figures.B.map((f, i) => f.serverCpuMsPerRequest / figures.A[i]!.serverCpuMsPerRequest);
  console.log(`Server CPU per request, B / A round by round: ${cpuRatios.map(fmt.x).join(', ')}; median ${fmt.x(median(cpuRatios))}, B lower in ${cpuRatios.filter((r) => r < 1).length} of ${rounds}.`);
} catch (error) {
  problems.push(String((error as Error).stack ?? error));
} finally {
  await stopAllChildren();
  await databases.dropAll();
  await Promise.all((embedded ?? []).map((database) => database.drop()));
  await ctx.cleanup();
}
if (problems.length) {
  console.error(`\nBROKEN:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
process.exit(0);
