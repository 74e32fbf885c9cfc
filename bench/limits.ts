import type { BenchContext } from './lib/context.ts';
import { gql, problems } from './lib/load.ts';
import { fmt, log, percentile, table, verdict } from './lib/report.ts';
import { clinigraphEnv, isAlive, residentMiB, startClinigraph } from './lib/servers.ts';

/** A read the care team's clinician may make: the patient, its cases and their observations. */
const patientRead = 'query PatientRead($id: ID!) { patient(id: $id) { id familyName cases { id title observations { code value } } } }';

/** The hostile requests, each over one limit at its default (README, Limits). */
function bombs(patientId: string): { name: string; body: string }[] {
  let nested = 'id';
  for (let i = 0; i < 12; i++) nested = `cases { patient { ${nested} } }`;
  const aliases = Array.from({ length: 200 }, (_, i) => `a${i}: patient(id: $id) { id }`).join(' ');
  const wide = Array.from({ length: 15 }, (_, i) => `p${i}: patients(first: 100) { edges { node { id cases { id observations { id code value } } } } }`).join(' ');
  const tokens = Array.from({ length: 3_000 }, () => 'id').join(' ');
  const one = (query: string) => JSON.stringify({ query, variables: { id: patientId } });
  return [
    { name: 'depth bomb (25 levels)', body: one(`query($id: ID!) { patient(id: $id) { ${nested} } }`) },
    { name: 'alias bomb (200 aliases)', body: one(`query($id: ID!) { ${aliases} }`) },
    { name: 'cost bomb (15 lists of 100 patients with their cases and observations)', body: one(`{ ${wide} }`) },
    { name: 'token bomb (3,000 tokens)', body: one(`query($id: ID!) { patient(id: $id) { ${tokens} } }`) },
    { name: 'batching bomb (500 operations in one request)', body: JSON.stringify(Array.from({ length: 500 }, () => ({ query: patientRead, variables: { id: patientId } }))) },
  ];
}

interface Timed {
  ms: number;
  /** The error codes of the answer (none: it was answered with data). */
  codes: string[];
}

async function post(url: string, token: string, body: string): Promise<Timed> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  const answer = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
  return { ms: performance.now() - started, codes: (answer.errors ?? []).map((error) => String(error.extensions?.code)) };
}

/** Sends `body` over one connection, one request after another, for `seconds`; every answer must be `expect`. */
async function loop(url: string, token: string, body: string, seconds: number, expect: (answer: Timed) => boolean, label: string): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const answer = await post(url, token, body);
    if (!expect(answer)) {
      problems.push(`limits: ${label} answered ${answer.codes.join(',') || 'with data'}`);
      break;
    }
    latencies.push(answer.ms);
  }
  return latencies;
}

const refused = (answer: Timed) => answer.codes.length > 0 && !answer.codes.includes('INTERNAL_SERVER_ERROR');
const answered = (answer: Timed) => answer.codes.length === 0;

/**
 * Issue 6, abuse limits: how fast each kind of query bomb is refused (one
 * connection, one request after another), and what a stream of them does
 * to everyone else: the clinician's patient read, one request after
 * another, alone and while 8 connections send depth bombs flat out. One
 * clinigraph server on PostgreSQL with the default limits.
 */
export async function limitsBenchmark(ctx: BenchContext): Promise<void> {
  const { tokens } = ctx;
  const seconds = ctx.settings.short ? 1 : 3;
  log('limits: creating the database and starting clinigraph (default limits)');
  const database = { databaseUrl: await ctx.databases.create('limits'), dataDir: await ctx.tempDir('limits') };
  const server = await startClinigraph('clinigraph (limits)', await clinigraphEnv(database, { DEFAULT_MODELS: 'false' }));
  const { createPatient } = await gql(server.url, tokens.admin, 'mutation { createPatient(input: { mrn: "BENCH-LIMITS", givenName: "Bench", familyName: "Limits", birthDate: "1970-01-01", sex: MALE }) { id } }');
  const patientId = createPatient.id as string;
  await gql(server.url, tokens.admin, 'mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }', { id: patientId, sub: tokens.clinicianSubject });
  for (let i = 0; i < 3; i++) {
    const { openCase } = await gql(server.url, tokens.clinician, 'mutation($id: ID!) { openCase(input: { patientId: $id, title: "Limits" }) { id } }', { id: patientId });
    await gql(server.url, tokens.clinician, 'mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "hr", value: 72, unit: "/min" }]) { id } }', { id: openCase.id });
  }
  const read = JSON.stringify({ query: patientRead, variables: { id: patientId } });

  const rows: string[][] = [];
  for (const bomb of bombs(patientId)) {
    const latencies = await loop(server.url, tokens.clinician, bomb.body, seconds, refused, bomb.name);
    log(`limits: ${bomb.name}: ${latencies.length} refused, p50 ${fmt.ms(percentile(latencies, 0.5))}, p99 ${fmt.ms(percentile(latencies, 0.99))}`);
    rows.push([bomb.name, `${Math.round(bomb.body.length / 1024)} KiB`, String(latencies.length), fmt.ms(percentile(latencies, 0.5)), fmt.ms(percentile(latencies, 0.99))]);
    verdict('7 limits', `${bomb.name}: refused in p50 / p99`, `${fmt.ms(percentile(latencies, 0.5))} / ${fmt.ms(percentile(latencies, 0.99))}`, 'refused quickly (reported)', undefined);
  }

  const alone = await loop(server.url, tokens.clinician, read, seconds * 2, answered, 'the patient read');
  let stop = false;
  let bombsRefused = 0;
  const depth = bombs(patientId)[0]!.body;
  const bombers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const answer = await post(server.url, tokens.clinician, depth);
      if (!refused(answer)) problems.push(`limits: a depth bomb under load answered ${answer.codes.join(',') || 'with data'}`);
      bombsRefused += 1;
    }
  });
  const started = performance.now();
  const underBombs = await loop(server.url, tokens.clinician, read, seconds * 2, answered, 'the patient read among bombs');
  const bombRate = (bombsRefused * 1000) / (performance.now() - started);
  stop = true;
  await Promise.all(bombers);
  if (!isAlive(server)) problems.push('limits: the server died');
  const rss = await residentMiB(server.pid);

  console.log('\n### Limits: query bombs refused, one connection, one after another\n');
  console.log(table(['request', 'body', 'refused', 'p50', 'p99'], rows));
  console.log('\n### Limits: the patient read, one client, alone and while 8 connections send depth bombs flat out\n');
  console.log(
    table(
      ['patient read', 'requests', 'p50', 'p99', 'depth bombs refused meanwhile'],
      [
        ['alone', String(alone.length), fmt.ms(percentile(alone, 0.5)), fmt.ms(percentile(alone, 0.99)), '–'],
        ['among 8 connections of depth bombs', String(underBombs.length), fmt.ms(percentile(underBombs, 0.5)), fmt.ms(percentile(underBombs, 0.99)), `${fmt.n(bombRate)} a second`],
      ],
    ),
  );
  console.log(`\nServer RSS after: ${fmt.mib(rss)}`);
  const slowdown = percentile(underBombs, 0.5) / percentile(alone, 0.5);
  verdict(
    '7 limits',
    'patient read p50 among 8 connections of depth bombs vs alone',
    `${fmt.ms(percentile(underBombs, 0.5))} vs ${fmt.ms(percentile(alone, 0.5))} (${fmt.x(slowdown)}; ${fmt.n(bombRate)} bombs refused a second)`,
    'keeps answering others (reported)',
    undefined,
  );
  verdict('4 memory', 'RSS after the limits phases', fmt.mib(rss), '(reported)', undefined);
}
