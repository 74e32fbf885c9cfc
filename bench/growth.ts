import { encodeCursor } from '../src/graphql/paging.ts';
import type { BenchContext } from './lib/context.ts';
import { gql, type LoadFigures, problems, runLoad } from './lib/load.ts';
import { adminQuery } from './lib/postgres.ts';
import { fmt, log, median, table, verdict } from './lib/report.ts';
import { type ChildServer, clinigraphEnv, startClinigraph, toggleProfile } from './lib/servers.ts';
import { seedPatients } from './seed-patients.ts';

const pageFields = 'edges { node { id mrn givenName familyName birthDate sex } } pageInfo { hasNextPage endCursor }';

interface Query {
  key: string;
  label: string;
  query: string;
  variables: (size: Sized) => Record<string, unknown>;
  as: 'admin' | 'clinician';
  /** Part of the growth target (the others are reported for information). */
  target: boolean;
  /** Measured in short mode too. */
  short: boolean;
}

const allQueries: Query[] = [
  {
    key: 'listFirst',
    label: 'list: patients(first: 20), first page',
    query: `query ListFirst { patients(first: 20) { ${pageFields} } }`,
    variables: () => ({}),
    as: 'admin',
    target: true,
    short: true,
  },
  {
    key: 'listDeep',
    label: 'list: page after the middle patient (after cursor)',
    query: `query ListDeep($after: String) { patients(first: 20, after: $after) { ${pageFields} } }`,
    variables: (size) => ({ after: size.middleCursor }),
    as: 'admin',
    target: true,
    short: true,
  },
  {
    key: 'detail',
    label: 'detail: patient(id)',
    query: 'query Detail($id: ID!) { patient(id: $id) { id mrn givenName familyName birthDate sex phone email address createdAt archived } }',
    variables: (size) => ({ id: size.middleId }),
    as: 'admin',
    target: true,
    short: true,
  },
  {
    key: 'listCount',
    label: 'list with totalCount (count(*) of all rows)',
    query: `query ListCount { patients(first: 20) { totalCount ${pageFields} } }`,
    variables: () => ({}),
    as: 'admin',
    target: false,
    short: true,
  },
  {
    key: 'clinicianFirst',
    label: 'list as clinician (care team = 1% of patients), first page',
    query: `query ListFirst { patients(first: 20) { ${pageFields} } }`,
    variables: () => ({}),
    as: 'clinician',
    target: true,
    short: false,
  },
];

interface Sized {
  label: string;
  patients: number;
  server: ChildServer;
  middleId: string;
  middleCursor: string;
  seedSeconds: number;
}

/** Concurrent clients of the growth phases: few, so p50 is latency rather than queueing on 2 cores. */
const connections = 2;

/**
 * Issue 6, growth: patient list (first page, a page deep in) and detail, p50
 * at a small and a large patient table (10 thousand and 1 million; short
 * mode 10 thousand and 100 thousand), as an admin (who sees every patient),
 * and the clinician's list (care-team filter, 1% of patients; full runs).
 * The list with totalCount is measured too, for information.
 */
export async function growthBenchmark(ctx: BenchContext): Promise<void> {
  const { settings, tokens } = ctx;
  const queries = allQueries.filter((query) => query.short || !settings.short);
  const sizes: Sized[] = [];
  try {
    for (const patients of [settings.growthSmall, settings.growthLarge]) {
      const label = patients >= 1_000_000 ? `${patients / 1_000_000}M` : `${patients / 1000}k`;
      log(`growth: seeding ${patients.toLocaleString('en')} patients (care team: every 100th)`);
      const databaseUrl = await ctx.databases.create(`growth_${label.toLowerCase()}`);
      const seedSeconds = await seedPatients(databaseUrl, patients, { careTeamEvery: 100, clinician: tokens.clinicianSubject });
      log(`growth: ${patients.toLocaleString('en')} patients in ${seedSeconds.toFixed(1)} s (with VACUUM ANALYZE)`);
      const middle = (await adminQuery(databaseUrl, `SELECT id, "createdAt" FROM "Patient" WHERE mrn = $1`, [`BENCH-${String(Math.floor(patients / 2)).padStart(8, '0')}`])).rows[0];
      const server = await startClinigraph(
        `clinigraph (${label} patients)`,
        await clinigraphEnv({ databaseUrl, dataDir: await ctx.tempDir('growth') }, { DEFAULT_MODELS: 'false' }),
        ctx.profile(`growth-${label}`),
      );
      sizes.push({ label, patients, server, middleId: middle.id, middleCursor: encodeCursor({ time: middle.createdAt, id: middle.id }), seedSeconds });
    }
    // The cursor is the one the API itself hands out for that row.
    for (const size of sizes) {
      const page = await gql(size.server.url, tokens.admin, queries[1]!.query, { after: size.middleCursor });
      if (page.patients.edges.length !== 20) problems.push(`growth ${size.label}: the deep page has ${page.patients.edges.length} rows, not 20`);
    }

    const figures = new Map<string, LoadFigures[]>();
    const phase = async (query: Query, size: Sized, seconds: number, record: boolean) => {
      const result = await runLoad({
        label: `growth ${size.label} ${query.key}`,
        server: size.server,
        connections,
        seconds,
        body: JSON.stringify({ query: query.query, variables: query.variables(size) }),
        headers: { authorization: `Bearer ${query.as === 'admin' ? tokens.admin : tokens.clinician}` },
        warmUp: !record,
      });
      if (!record) return;
      const key = `${query.key}/${size.label}`;
      if (!figures.has(key)) figures.set(key, []);
      figures.get(key)!.push(result);
      log(`  ${size.label.padEnd(5)} ${query.label.padEnd(58)} p50 ${fmt.ms(result.p50).padStart(8)}  p99 ${fmt.ms(result.p99).padStart(8)}  ${fmt.n(result.rps)} req/s`);
    };
    log(`growth: warming up; then ${settings.growthRounds} round(s) of ${settings.latencySeconds} s per query and size, ${connections} clients`);
    for (const size of sizes) await phase(queries[0]!, size, settings.warmSeconds, false);
    await Promise.all(sizes.map((size) => toggleProfile(size.server)));
    for (let round = 1; round <= settings.growthRounds; round++) {
      for (const query of queries) for (const size of sizes) await phase(query, size, settings.latencySeconds, true);
    }
    await Promise.all(sizes.map((size) => toggleProfile(size.server, 'rounds')));

    const [small, large] = sizes as [Sized, Sized];
    const rows: (string | number)[][] = [];
    for (const query of queries) {
      const p50 = (size: Sized) => median(figures.get(`${query.key}/${size.label}`)!.map((f) => f.p50));
      const p99 = (size: Sized) => median(figures.get(`${query.key}/${size.label}`)!.map((f) => f.p99));
      const ratio = p50(large) / p50(small);
      rows.push([query.label, fmt.ms(p50(small)), fmt.ms(p50(large)), fmt.x(ratio), fmt.ms(p99(small)), fmt.ms(p99(large))]);
      verdict(
        '3 growth',
        `${query.label}: p50 ${small.label} -> ${large.label}`,
        `${fmt.ms(p50(small))} -> ${fmt.ms(p50(large))} (${fmt.x(ratio)})`,
        query.target ? '<= 1.5x' : '(information)',
        query.target ? ratio <= 1.5 : undefined,
      );
    }
    console.log(`\n### Growth: ${small.patients.toLocaleString('en')} vs ${large.patients.toLocaleString('en')} patients, ${connections} clients, median of ${settings.growthRounds} round(s)\n`);
    console.log(table(['query', `p50 ${small.label}`, `p50 ${large.label}`, 'ratio', `p99 ${small.label}`, `p99 ${large.label}`], rows));
    console.log(`\nSeeding: ${sizes.map((s) => `${s.label} in ${s.seedSeconds.toFixed(1)} s`).join(', ')}`);
    const rss = (size: Sized) => Math.max(...[...figures.entries()].filter(([key]) => key.endsWith(`/${size.label}`)).flatMap(([, list]) => list.map((f) => f.rssMiB)));
    for (const size of sizes) verdict('4 memory', `RSS after growth phases: server on ${size.label} patients`, fmt.mib(rss(size)), '(reported)', undefined);
  } finally {
    await Promise.all(sizes.map((size) => size.server.stop()));
  }
}
