import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { type RunningServer, startServer } from '../../src/server/start.ts';
import { openRaw, type RawDatabase } from '../support/raw-database.ts';
import { startPrivatePostgres } from '../support/private-postgres.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { type Identity, people, signToken } from '../support/tokens.ts';
import { testServerEnv } from '../support/test-server.ts';

/*
 * PostgreSQL going away under load, without touching the shared server: the
 * test server's database lives on a PostgreSQL server of the test's own
 * (initdb, its own port), which the test restarts for real, and is reached
 * through a TCP proxy on loopback, which the test takes down for a few
 * seconds and brings back for the other kinds of outage, while a bounded loop
 * of concurrent reads and writes runs. While the database is away, requests must
 * fail quickly with a coded error (no hang beyond the request timeout, no
 * stack trace or internals); afterwards the server must recover by itself
 * within seconds, with every acknowledged write stored and the audit chain
 * intact. /readyz must say "not ready" while the database is unreachable.
 */

const onPostgres = Boolean(process.env.DATABASE_URL);
const skip = !onPostgres && 'needs DATABASE_URL: the embedded database runs in process, it has no connection to lose';
const ownServer = onPostgres ? await startPrivatePostgres() : undefined;
const restartable = ownServer && 'url' in ownServer ? ownServer : undefined;
const cannotRestart = skip || (!restartable && `cannot run a PostgreSQL server of its own to restart: ${ownServer && 'unavailable' in ownServer ? ownServer.unavailable : ''}`);

/** Short, so a request stuck on the database is told apart from one that failed fast. */
const requestTimeoutMs = 5_000;
/** While connections are refused, every request must be answered within this. */
const fastFailMs = 2_000;
const outageMs = 4_000;
/** The server must answer successfully again within this long after the database is back. */
const recoveryLimitMs = 5_000;
const poolSize = 5;
const maxIterationsPerWorker = 2_000;
const maxProbes = 1_000;
/** Codes a request may get while the database is away (TIMEOUT only when the database does not answer at all). */
const outageCodes = new Set(['UNAVAILABLE', 'INTERNAL_SERVER_ERROR', 'TIMEOUT']);
/** What must never reach a client: stack frames, driver and Prisma messages, SQL, addresses. */
const internals = /\bat .+:\d+:\d+|node_modules|stacktrace|prisma|P\d{4}|ECONN|Connection terminated|57P0|SQLSTATE|SELECT |INSERT |pg_|127\.0\.0\.1|postgres/i;

type Kind = 'createPatient' | 'addObservations' | 'listPatients' | 'readCase';

interface Sample {
  kind: Kind;
  startedAt: number;
  endedAt: number;
  /** 0 when the client got no HTTP answer (it gave up after three request timeouts). */
  status: number;
  codes: string[];
  /** The whole answer, for the checks on what an error lets out. */
  text: string;
  data: any;
}

interface Probe {
  startedAt: number;
  endedAt: number;
  status: number;
  body: any;
}

interface Scenario {
  samples: Sample[];
  probes: Probe[];
  downAt: number;
  upAt: number;
  /** End of the first successful request started after the database came back. */
  firstSuccessAt: number | undefined;
  /** End of the first /readyz answering 200 that started after the database came back. */
  readyAgainAt: number | undefined;
  /** The server's log lines of the run (level warn and up). */
  logs: Record<string, any>[];
}

// Everything is set up here, before any test is declared.
let database: TestDatabase | undefined;
let proxy: TcpProxy | undefined;
let server: RunningServer | undefined;
/** A connection to the test database that bypasses the proxy, for the checks below the API. */
let direct: RawDatabase | undefined;
const logs: Record<string, any>[] = [];
if (onPostgres) {
  database = await createTestDatabase(restartable ? { serverUrl: restartable.url } : {});
  const target = new URL(database.databaseUrl!);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const config = loadConfig({
    ...(await testServerEnv(database)),
    DATABASE_URL: proxy.rewrite(database.databaseUrl!),
    DATABASE_POOL_SIZE: String(poolSize),
    RATE_LIMIT_PER_MINUTE: '1000000',
    REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
  });
  // The server's log is kept, to see what a database failure looks like inside.
  const logStream = { write: (line: string) => void logs.push(JSON.parse(line)) };
  server = await startServer(config, pino({ level: 'warn' }, logStream));
  direct = await openRaw(database);
  after(async () => {
    await proxy!.up();
    await server!.stop();
    await proxy!.close();
    await direct!.close();
    await database!.drop();
    await restartable?.destroy();
  });
}

const tokens = new Map<string, string>();
async function post(identity: Identity, query: string, variables: Record<string, unknown> = {}) {
  if (!tokens.has(identity.sub)) tokens.set(identity.sub, `Bearer ${await signToken(identity, { expiresIn: 3600 })}`);
  const response = await fetch(server!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: tokens.get(identity.sub)! },
    body: JSON.stringify({ query, variables }),
    // A hang is a failure too: the client gives up well after the server's own timeout.
    signal: AbortSignal.timeout(requestTimeoutMs * 3),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as { data?: any; errors?: { message: string; extensions?: Record<string, any> }[] } };
}

async function mustSucceed(identity: Identity, query: string, variables: Record<string, unknown> = {}) {
  const { status, body } = await post(identity, query, variables);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.equal(status, 200);
  return body.data;
}

async function readyz() {
  const response = await fetch(new URL('/readyz', server!.url), { signal: AbortSignal.timeout(requestTimeoutMs * 3) });
  return { status: response.status, body: (await response.json()) as any };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const createPatient = `mutation($input: CreatePatientInput!) { createPatient(input: $input) { id mrn } }`;
const patientInput = (mrn: string) => ({ mrn, givenName: 'Out', familyName: 'Age', birthDate: '1966-06-06', sex: 'FEMALE' });

/** Every write the API acknowledged, over all scenarios: checked against the database at the end. */
const acknowledged = { patients: new Map<string, string>(), observations: new Set<string>() };
/** Every MRN a createPatient was sent with. */
const attemptedMrns = new Set<string>();
/** MRN of each createPatient answered with an error (or not at all), with the codes. */
const failedCreations = new Map<string, string>();

/**
 * Runs the load (three patient writers, one observation writer, three readers
 * and a /readyz prober), takes the database away with `takeDown` for
 * `awayMs`, brings it back with `bringUp` and watches until the server answers again.
 */
async function runOutage(label: string, takeDown: () => Promise<void>, awayMs = outageMs, bringUp = () => proxy!.up()): Promise<Scenario> {
  logs.length = 0;
  const { createPatient: patient } = await mustSucceed(people.admin, createPatient, { input: patientInput(`${label}-CARED`) });
  acknowledged.patients.set(patient.id, patient.mrn);
  attemptedMrns.add(patient.mrn);
  await mustSucceed(people.admin, `mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }`, {
    id: patient.id,
    sub: people.clinician.sub,
  });
  const { openCase: episode } = await mustSucceed(people.clinician, `mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }`, {
    input: { patientId: patient.id, title: `Outage ${label}` },
  });

  const samples: Sample[] = [];
  const probes: Probe[] = [];
  let stop = false;
  const operations: Record<Kind, (i: number, w: number) => [Identity, string, Record<string, unknown>]> = {
    createPatient: (i, w) => [people.admin, createPatient, { input: patientInput(`${label}-${w}-${i}`) }],
    addObservations: (i) => [
      people.clinician,
      `mutation($caseId: ID!, $observations: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $observations) { id } }`,
      { caseId: episode.id, observations: [{ code: 'mean_radius', value: i, unit: 'mm' }] },
    ],
    listPatients: () => [people.admin, `{ patients(first: 5) { totalCount edges { node { id } } } }`, {}],
    readCase: () => [people.clinician, `query($id: ID!) { case(id: $id) { id observations { id } } }`, { id: episode.id }],
  };
  const worker = async (kind: Kind, w: number) => {
    for (let i = 0; i < maxIterationsPerWorker && !stop; i++) {
      const [identity, query, variables] = operations[kind](i, w);
      if (kind === 'createPatient') attemptedMrns.add((variables.input as { mrn: string }).mrn);
      const startedAt = performance.now();
      let sample: Sample;
      try {
        const { status, text, body } = await post(identity, query, variables);
        const codes = (body.errors ?? []).map((error) => String(error.extensions?.code));
        sample = { kind, startedAt, endedAt: performance.now(), status, codes, text, data: body.data };
        if (codes.length === 0 && kind === 'createPatient') acknowledged.patients.set(body.data.createPatient.id, body.data.createPatient.mrn);
        if (codes.length > 0 && kind === 'createPatient') failedCreations.set((variables.input as { mrn: string }).mrn, `${label} ${status} ${codes.join(',')}`);
        if (codes.length === 0 && kind === 'addObservations') for (const row of body.data.addObservations) acknowledged.observations.add(row.id);
      } catch (error) {
        sample = { kind, startedAt, endedAt: performance.now(), status: 0, codes: [`no answer: ${(error as Error).name}`], text: '', data: undefined };
        if (kind === 'createPatient') failedCreations.set((variables.input as { mrn: string }).mrn, `${label} no answer`);
      }
      samples.push(sample);
      await sleep(10);
    }
  };
  const prober = async () => {
    for (let i = 0; i < maxProbes && !stop; i++) {
      const startedAt = performance.now();
      const { status, body } = await readyz().catch((error: Error) => ({ status: 0, body: { noAnswer: error.name } }));
      probes.push({ startedAt, endedAt: performance.now(), status, body });
      await sleep(100);
    }
  };
  const kinds: Kind[] = ['createPatient', 'createPatient', 'createPatient', 'addObservations', 'listPatients', 'listPatients', 'readCase'];
  const running = [...kinds.map((kind, w) => worker(kind, w)), prober()];

  let downAt = Number.NaN;
  let upAt = Number.NaN;
  try {
    await sleep(1_500);
    await takeDown();
    // From here on the database is wholly away (a request started just before may still have finished well).
    downAt = performance.now();
    await sleep(awayMs);
  } finally {
    // From the moment it is being brought back: `pg_ctl start` returns only a while after the server accepts connections.
    upAt = performance.now();
    await bringUp();
    // Watch the recovery (bounded), then keep the load on a little longer.
    const recovered = () => samples.some((s) => s.startedAt >= upAt && s.codes.length === 0 && s.status === 200);
    const readyAgain = () => probes.some((p) => p.startedAt >= upAt && p.status === 200);
    while (!(recovered() && readyAgain()) && performance.now() - upAt < recoveryLimitMs * 3) await sleep(20);
    await sleep(1_500);
    stop = true;
    await Promise.all(running);
  }

  const firstSuccessAt = samples
    .filter((s) => s.startedAt >= upAt && s.codes.length === 0 && s.status === 200)
    .reduce<number | undefined>((first, s) => (first === undefined || s.endedAt < first ? s.endedAt : first), undefined);
  const readyAgainAt = probes.find((p) => p.startedAt >= upAt && p.status === 200)?.endedAt;
  const scenario = { samples, probes, downAt, upAt, firstSuccessAt, readyAgainAt, logs: [...logs] };
  report(label, scenario);
  return scenario;
}

/** Prints what the run looked like (the numbers the report on this test quotes). */
function report(label: string, { samples, probes, downAt, upAt, firstSuccessAt, readyAgainAt, logs: lines }: Scenario) {
  const summarize = (part: Sample[]) => {
    const groups = new Map<string, { count: number; slowestMs: number }>();
    for (const s of part) {
      const key = `${s.kind} ${s.status} ${s.codes.join(',') || 'ok'}`;
      const group = groups.get(key) ?? { count: 0, slowestMs: 0 };
      group.count++;
      group.slowestMs = Math.max(group.slowestMs, Math.round(s.endedAt - s.startedAt));
      groups.set(key, group);
    }
    return JSON.stringify(Object.fromEntries([...groups].sort()));
  };
  const inside = new Map<string, number>();
  for (const line of lines) {
    const key = [line.msg, line.errorType, line.prismaCode].filter(Boolean).join(' | ');
    inside.set(key, (inside.get(key) ?? 0) + 1);
  }
  const ms = (at: number | undefined) => (at === undefined ? 'never' : `${Math.round(at - upAt)} ms`);
  console.log(`# ${label}: requests while the database was away: ${summarize(samples.filter((s) => s.startedAt >= downAt && s.endedAt <= upAt))}`);
  console.log(`# ${label}: requests after it came back: ${summarize(samples.filter((s) => s.startedAt >= upAt))}`);
  console.log(`# ${label}: /readyz while away: ${JSON.stringify(probes.filter((p) => p.startedAt >= downAt && p.startedAt < upAt).map((p) => `${p.status} in ${Math.round(p.endedAt - p.startedAt)} ms`))}`);
  console.log(`# ${label}: recovery: first success ${ms(firstSuccessAt)} after bringing the database back began, /readyz ready after ${ms(readyAgainAt)}`);
  console.log(`# ${label}: server log: ${JSON.stringify(Object.fromEntries(inside))}`);
}

/** The checks every outage must pass. */
function checkOutage(scenario: Scenario, { failFastMs, minRequestsWhileAway }: { failFastMs: number; minRequestsWhileAway: number }) {
  const { samples, probes, downAt, upAt } = scenario;
  // Every answer is a GraphQL answer: data, or errors that each carry a code and nothing internal.
  for (const s of samples) {
    assert.notEqual(s.status, 0, `${s.kind} got an answer (no hang beyond the request timeout): ${s.codes}`);
    assert.ok(!s.codes.includes('undefined'), `every error has a code: ${s.text}`);
    if (s.codes.length) assert.doesNotMatch(s.text, internals, `no internals in an error answer: ${s.text}`);
    assert.ok(s.endedAt - s.startedAt <= requestTimeoutMs + 1_000, `${s.kind} answered within the request timeout (${Math.round(s.endedAt - s.startedAt)} ms)`);
  }
  const during = samples.filter((s) => s.startedAt >= downAt && s.endedAt <= upAt);
  assert.ok(during.length >= minRequestsWhileAway, `the load kept running while the database was away (${during.length} requests)`);
  for (const s of during) {
    assert.ok(s.codes.length > 0 && s.codes.every((code) => outageCodes.has(code)), `${s.kind} failed with an outage code while the database was away: ${s.status} ${s.text}`);
    assert.ok(s.endedAt - s.startedAt <= failFastMs, `${s.kind} failed within ${failFastMs} ms (${Math.round(s.endedAt - s.startedAt)} ms)`);
  }
  // Readiness: never "ready" while away, ready again after.
  const probesDuring = probes.filter((p) => p.startedAt >= downAt && p.endedAt <= upAt);
  for (const p of probesDuring) {
    assert.equal(p.status, 503, `/readyz while the database is away: ${JSON.stringify(p.body)}`);
    assert.equal(p.body.databaseReachable, false);
  }
  assert.ok(scenario.readyAgainAt !== undefined && scenario.readyAgainAt - upAt <= recoveryLimitMs, `/readyz ready again within ${recoveryLimitMs} ms`);
  // Recovery by itself, and for good: once one request succeeds again, all later ones do.
  assert.ok(scenario.firstSuccessAt !== undefined, 'the server answered successfully again after the database came back');
  assert.ok(scenario.firstSuccessAt - upAt <= recoveryLimitMs, `recovered within ${recoveryLimitMs} ms (${Math.round(scenario.firstSuccessAt - upAt)} ms)`);
  const settled = samples.filter((s) => s.startedAt >= scenario.firstSuccessAt! + 1_000);
  assert.ok(settled.length > 0);
  for (const s of settled) assert.deepEqual([s.status, s.codes], [200, []], `${s.kind} after the recovery: ${s.text}`);
  // No connection leaked across the outage: the pool holds no more than its size.
  assert.ok(proxy!.connections <= poolSize, `${proxy!.connections} connections open through the proxy (pool of ${poolSize})`);
}

/** Requests that ran wholly while the database was away, and the HTTP statuses they got. */
function outageAnswers(scenario: Scenario) {
  return scenario.samples.filter((s) => s.startedAt >= scenario.downAt && s.endedAt <= scenario.upAt);
}

let restart: Scenario | undefined;
let terminated: Scenario | undefined;
let partitionScenario: Scenario | undefined;
let dropped: Scenario | undefined;

async function waitUntilReady() {
  // Readiness can follow the start by a moment (background warm-up).
  let ready = await readyz();
  for (let i = 0; i < 300 && ready.status !== 200; i++) ready = await sleep(100).then(readyz);
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
}

it('PostgreSQL restarted under load: coded errors while it is down, recovery by itself within seconds after', { skip: cannotRestart, timeout: 120_000 }, async () => {
  await waitUntilReady();
  // The server itself stopped (pg_ctl stop -m fast: every backend is told "terminating
  // connection due to administrator command", 57P01, then connections are refused) and
  // started again (pg_ctl start, which returns once it accepts connections).
  restart = await runOutage('RESTART', () => restartable!.stop(), outageMs, () => restartable!.start());
  checkOutage(restart, { failFastMs: fastFailMs, minRequestsWhileAway: 20 });
});

it('every backend terminated as a restart does, then connections refused: same answers, same recovery', { skip, timeout: 120_000 }, async () => {
  await waitUntilReady();
  // What a restart does, played through the proxy (where PostgreSQL cannot be restarted):
  // the backends are terminated (57P01), then connections are refused until it is back.
  terminated = await runOutage('TERMINATED', async () => {
    await proxy!.down('refuse', { keepOpen: true });
    await direct!.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    await sleep(100);
    proxy!.dropConnections();
  });
  checkOutage(terminated, { failFastMs: fastFailMs, minRequestsWhileAway: 20 });
});

it('connections lost without a word (crash, network reset), then refused: same answers, same recovery', { skip, timeout: 120_000 }, async () => {
  dropped = await runOutage('DROPPED', () => proxy!.down('refuse'));
  checkOutage(dropped, { failFastMs: fastFailMs, minRequestsWhileAway: 20 });
});

it('while the database is down, every request is answered UNAVAILABLE with HTTP 503', { skip }, () => {
    for (const scenario of [terminated, dropped, ...(restartable ? [restart] : [])]) {
      assert.ok(scenario, 'the outage ran');
      for (const s of outageAnswers(scenario)) assert.deepEqual([s.status, s.codes], [503, ['UNAVAILABLE']], `${s.kind}: ${s.text}`);
    }
});

it('network partition (open connections go silent, new ones unanswered): requests end at the request timeout at worst, recovery after', { skip, timeout: 120_000 }, async () => {
  // Longer than the request timeout, so that requests time out while it lasts.
  const partition = await runOutage('PARTITION', () => proxy!.down('blackhole'), requestTimeoutMs + 3_000);
  // Nothing answers and nothing fails, so requests wait for the database until their own
  // timeout (TIMEOUT, HTTP 503); those started later wait until the database is back and succeed.
  checkOutage(partition, { failFastMs: requestTimeoutMs + 1_000, minRequestsWhileAway: 0 });
  // A request whose statements all ran just before the cut may still finish in its first moments: a grace of 1 s.
  const endedWhileAway = partition.samples.filter((s) => s.endedAt > partition.downAt + 1_000 && s.endedAt <= partition.upAt);
  assert.ok(endedWhileAway.length > 0, 'requests timed out while the partition lasted');
  // TIMEOUT, or UNAVAILABLE where a connection attempt's own time limit ran out first.
  for (const s of endedWhileAway) assert.ok(s.status === 503 && s.codes.every((code) => code === 'TIMEOUT' || code === 'UNAVAILABLE'), `${s.kind}: ${s.status} ${s.text}`);
  partitionScenario = partition;
});

it('while the database does not answer at all, /readyz says "not ready" within seconds', { skip }, () => {
    assert.ok(partitionScenario, 'the partition ran');
    const { probes, downAt, upAt } = partitionScenario;
    const started = probes.filter((p) => p.startedAt >= downAt && p.startedAt < upAt - 3_000);
    assert.ok(started.length > 0);
    for (const p of started) assert.ok(p.status === 503 && p.endedAt - p.startedAt <= 3_000, `/readyz: ${p.status} after ${Math.round(p.endedAt - p.startedAt)} ms`);
});

it('keeps every acknowledged write, each with its one audit record, and an intact audit chain', { skip, timeout: 60_000 }, async () => {
  assert.ok(terminated && dropped && (restart || !restartable), 'the outages ran');
  const patients = new Map(
    (await direct!.query<{ id: string; mrn: string }>(`SELECT id::text AS id, mrn FROM "Patient"`)).map((row) => [row.id, row.mrn]),
  );
  const observations = new Set((await direct!.query<{ id: string }>(`SELECT id::text AS id FROM "Observation"`)).map((row) => row.id));
  for (const [id, mrn] of acknowledged.patients) assert.equal(patients.get(id), mrn, `acknowledged patient ${mrn} is stored`);
  for (const id of acknowledged.observations) assert.ok(observations.has(id), `acknowledged observation ${id} is stored`);
  assert.deepEqual([...patients.values()].filter((mrn) => !attemptedMrns.has(mrn)), [], 'no patient that was never sent');

  // A write that failed may still have committed (its COMMIT went through, the answer was lost);
  // either way data and audit record are one: no row without its record, no record without its row.
  const audited = async (action: string) => {
    const rows = await direct!.query<{ id: string }>(
      `SELECT r.id FROM "AuditEvent" a, unnest(a."resourceIds") AS r(id) WHERE a.action = $1 AND a.outcome = 'SUCCESS'`,
      [action],
    );
    const counts = new Map<string, number>();
    for (const row of rows) counts.set(row.id, (counts.get(row.id) ?? 0) + 1);
    return counts;
  };
  for (const [action, stored] of [['patient.create', new Set(patients.keys())], ['observation.create', observations]] as const) {
    const records = await audited(action);
    assert.deepEqual([...stored].filter((id) => records.get(id) !== 1), [], `${action}: rows without exactly one SUCCESS audit record`);
    assert.deepEqual([...records.keys()].filter((id) => !stored.has(id)), [], `${action}: audit records naming rows that were never committed`);
  }

  const viaApi = await mustSucceed(people.auditor, `{ verifyAuditChain { intact checkedCount totalCount problem firstInvalidSequence } }`);
  assert.equal(viaApi.verifyAuditChain.intact, true, JSON.stringify(viaApi));
  assert.equal(viaApi.verifyAuditChain.checkedCount, viaApi.verifyAuditChain.totalCount);
  // What `npm run audit:verify` runs, against the table's own row count (nothing writes now).
  const verified = await server!.app.auditLedger.verify();
  const [{ count }] = (await direct!.query<{ count: number }>(`SELECT count(*)::int AS count FROM "AuditEvent"`)) as [{ count: number }];
  assert.equal(verified.intact, true, JSON.stringify(verified, (_key, value) => (typeof value === 'bigint' ? String(value) : value)));
  assert.equal(verified.checkedCount, count);
  // Writes answered with an error that committed all the same (their outcome was unknown to the client).
  const storedMrns = new Set(patients.values());
  const committedDespiteError = new Map<string, number>();
  for (const [mrn, answer] of failedCreations) if (storedMrns.has(mrn)) committedDespiteError.set(answer, (committedDespiteError.get(answer) ?? 0) + 1);
  console.log(`# creations answered with an error: ${failedCreations.size}; stored all the same: ${JSON.stringify(Object.fromEntries(committedDespiteError))}`);
  console.log(`# stored: ${patients.size} patients (${acknowledged.patients.size} acknowledged), ${observations.size} observations (${acknowledged.observations.size} acknowledged), ${count} audit records, chain intact`);
});
