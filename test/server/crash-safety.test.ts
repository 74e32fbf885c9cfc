import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { type ChildServer, startChildServer } from '../support/child-server.ts';
import { openRaw } from '../support/raw-database.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { type Identity, people, signToken } from '../support/tokens.ts';
import { testServerEnv } from '../support/test-server.ts';

/*
 * The server process is killed with SIGKILL while concurrent writes are in
 * flight, then started again on the same database. Whatever the kill
 * interrupted, the database must hold no patient data without its audit
 * record, no audit record of a write that did not commit, and an intact
 * chain; and every write the client was told succeeded must be stored.
 *
 * Runs on both databases. The embedded one (PGlite) recovers from the kill
 * like PostgreSQL does (WAL replay when it is opened again), because its
 * files are written through to the operating system at every commit; it runs
 * with fsync off, though, so this says nothing about an operating-system
 * crash or a power cut, which a process kill does not simulate.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Writers per role and writes per writer at most: the load is bounded whatever happens. */
const adminWriters = 16;
const clinicianWriters = 4;
const maxWritesPerWriter = 60;
/** The kill comes once this many writes of each kind were acknowledged (or after killDeadlineMs). */
const killAfter = { patients: 60, cases: 3, observations: 3 };
const killDeadlineMs = 30_000;
const requestTimeoutMs = 20_000;

type Outcome =
  | { kind: 'ok'; data: any }
  | { kind: 'coded'; codes: string[] }
  /** No answer: the connection broke (the kill) or nothing listened any more. */
  | { kind: 'no-answer'; error: string };

it(
  'keeps data and audit log consistent across a SIGKILL in the middle of concurrent writes',
  { timeout: 240_000 },
  async () => {
    const database = await createTestDatabase();
    let server: ChildServer | undefined;
    after(async () => {
      await server?.stop('SIGKILL');
      await database.drop();
    });
    const env: Record<string, string> = {
      ...(await testServerEnv(database)),
      // The load below is far more than the default per-subject limit allows in a minute.
      RATE_LIMIT_PER_MINUTE: '100000',
    };
    server = await startChildServer(env);

    const tokens = new Map<string, string>();
    const bearer = async (identity: Identity) => {
      if (!tokens.has(identity.sub)) tokens.set(identity.sub, `Bearer ${await signToken(identity)}`);
      return tokens.get(identity.sub)!;
    };
    const call = async (url: string, identity: Identity, query: string, variables: Record<string, unknown> = {}): Promise<Outcome> => {
      const authorization = await bearer(identity);
      let response: Response;
      let body: any;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        body = await response.json();
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        return { kind: 'no-answer', error: cause?.code ?? cause?.message ?? (error as Error).message };
      }
      if (body.errors?.length) return { kind: 'coded', codes: body.errors.map((e: any) => String(e.extensions?.code)) };
      return { kind: 'ok', data: body.data };
    };
    const mustSucceed = async (url: string, identity: Identity, query: string, variables: Record<string, unknown> = {}) => {
      const outcome = await call(url, identity, query, variables);
      assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
      return (outcome as { data: any }).data;
    };

    const createPatient = `mutation($input: CreatePatientInput!) { createPatient(input: $input) { id mrn } }`;
    const patientInput = (mrn: string) => ({ mrn, givenName: 'Crash', familyName: 'Safety', birthDate: '1975-05-05', sex: 'OTHER' });
    const openCase = `mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }`;
    const addObservations = `mutation($caseId: ID!, $observations: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $observations) { id } }`;

    // Patients the clinician writers work on: on the care team, with a case open.
    const cared: { patientId: string; caseId: string }[] = [];
    for (let i = 0; i < clinicianWriters; i++) {
      const url = server.url;
      const { createPatient: patient } = await mustSucceed(url, people.admin, createPatient, { input: patientInput(`CARE-${i}`) });
      await mustSucceed(url, people.admin, `mutation($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }`, {
        id: patient.id,
        sub: people.clinician.sub,
      });
      const { openCase: episode } = await mustSucceed(url, people.clinician, openCase, { input: { patientId: patient.id, title: 'Before the crash' } });
      cared.push({ patientId: patient.id, caseId: episode.id });
    }

    // --- the load, and the kill in the middle of it ---
    const acknowledged = { patients: new Map<string, string>(), cases: new Set<string>(), observations: new Set<string>() };
    const attemptedMrns: string[] = [];
    const coded: string[][] = [];
    let inFlight = 0;
    let killed = false;
    const track = async (work: Promise<Outcome>) => {
      inFlight++;
      try {
        const outcome = await work;
        if (outcome.kind === 'coded') coded.push(outcome.codes);
        return outcome;
      } finally {
        inFlight--;
      }
    };
    const url = server.url;
    const adminWriter = async (w: number) => {
      for (let i = 0; i < maxWritesPerWriter && !killed; i++) {
        const mrn = `CRASH-${w}-${i}`;
        attemptedMrns.push(mrn);
        const outcome = await track(call(url, people.admin, createPatient, { input: patientInput(mrn) }));
        if (outcome.kind === 'no-answer') return;
        if (outcome.kind === 'ok') acknowledged.patients.set(outcome.data.createPatient.id, mrn);
      }
    };
    const clinicianWriter = async (w: number) => {
      const { patientId, caseId } = cared[w]!;
      for (let i = 0; i < maxWritesPerWriter && !killed; i++) {
        const outcome =
          i % 2 === 0
            ? await track(call(url, people.clinician, openCase, { input: { patientId, title: `During the crash ${i}` } }))
            : await track(call(url, people.clinician, addObservations, { caseId, observations: [{ code: 'mean_radius', value: i, unit: 'mm' }, { code: 'note', text: `n${i}` }] }));
        if (outcome.kind === 'no-answer') return;
        if (outcome.kind === 'ok' && outcome.data.openCase) acknowledged.cases.add(outcome.data.openCase.id);
        if (outcome.kind === 'ok' && outcome.data.addObservations) for (const o of outcome.data.addObservations) acknowledged.observations.add(o.id);
      }
    };
    const writers = [
      ...Array.from({ length: adminWriters }, (_, w) => adminWriter(w)),
      ...Array.from({ length: clinicianWriters }, (_, w) => clinicianWriter(w)),
    ];
    const loadStarted = Date.now();
    const deadline = Date.now() + killDeadlineMs;
    const enough = () =>
      acknowledged.patients.size >= killAfter.patients &&
      acknowledged.cases.size >= killAfter.cases &&
      acknowledged.observations.size >= killAfter.observations;
    while (!enough() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const inFlightAtKill = inFlight;
    const loadMs = Date.now() - loadStarted;
    const acknowledgedAtKill = { patients: acknowledged.patients.size, cases: acknowledged.cases.size, observations: acknowledged.observations.size };
    const exit = await server.stop('SIGKILL');
    killed = true;
    await Promise.all(writers);
    assert.equal(exit, null, 'the process was killed, not exited');
    assert.ok(enough(), `too few writes acknowledged in ${killDeadlineMs} ms: ${JSON.stringify(acknowledgedAtKill)}`);
    assert.ok(inFlightAtKill > 0, 'requests were in flight at the kill');
    assert.deepEqual(coded, [], 'no write failed with an error before the kill');
    server = undefined;

    // --- restart on the same database ---
    const restartStarted = Date.now();
    server = await startChildServer(env);
    const restartMs = Date.now() - restartStarted;
    const { verifyAuditChain: viaApi } = await mustSucceed(server.url, people.auditor, `{ verifyAuditChain { intact checkedCount totalCount problem firstInvalidSequence } }`);
    assert.equal(viaApi.intact, true, JSON.stringify(viaApi));
    assert.equal(viaApi.checkedCount, viaApi.totalCount);
    // The restarted server takes writes again.
    await mustSucceed(server.url, people.admin, createPatient, { input: patientInput('AFTER-RESTART') });
    assert.equal(await server.stop('SIGTERM'), 0);
    server = undefined;

    // --- below the API (the embedded database admits one process at a time, so the server is stopped) ---
    const verify = await auditVerify(env);
    assert.equal(verify.code, 0, verify.output);
    const verifiedCount = Number(/intact: (\d+) records checked/.exec(verify.output)?.[1]);

    const raw = await openRaw(database);
    try {
      const [{ count: auditRows }] = (await raw.query<{ count: number }>(`SELECT count(*)::int AS count FROM "AuditEvent"`)) as [{ count: number }];
      assert.equal(verifiedCount, auditRows, 'npm run audit:verify checked every row of the table');

      const patients = new Map(
        (await raw.query<{ id: string; mrn: string }>(`SELECT id::text AS id, mrn FROM "Patient"`)).map((row) => [row.id, row.mrn]),
      );
      const cases = new Set((await raw.query<{ id: string }>(`SELECT id::text AS id FROM "Case"`)).map((row) => row.id));
      const observations = new Set((await raw.query<{ id: string }>(`SELECT id::text AS id FROM "Observation"`)).map((row) => row.id));
      /** How many SUCCESS records of an action name each resource id. */
      const audited = async (action: string) => {
        const rows = await raw.query<{ id: string }>(
          `SELECT r.id FROM "AuditEvent" a, unnest(a."resourceIds") AS r(id) WHERE a.action = $1 AND a.outcome = 'SUCCESS'`,
          [action],
        );
        const counts = new Map<string, number>();
        for (const row of rows) counts.set(row.id, (counts.get(row.id) ?? 0) + 1);
        return counts;
      };
      const checkPair = async (action: string, stored: Set<string> | Map<string, string>) => {
        const records = await audited(action);
        const unaudited = [...stored.keys()].filter((id) => records.get(id) !== 1);
        assert.deepEqual(unaudited, [], `${action}: rows without exactly one SUCCESS audit record`);
        const phantom = [...records.keys()].filter((id) => !stored.has(id));
        assert.deepEqual(phantom, [], `${action}: audit records naming rows that were never committed`);
      };
      await checkPair('patient.create', patients);
      await checkPair('case.open', cases);
      await checkPair('observation.create', observations);

      // The client's view: every acknowledged write is stored, as acknowledged.
      for (const [id, mrn] of acknowledged.patients) assert.equal(patients.get(id), mrn, `acknowledged patient ${mrn} is stored`);
      for (const id of acknowledged.cases) assert.ok(cases.has(id), `acknowledged case ${id} is stored`);
      for (const id of acknowledged.observations) assert.ok(observations.has(id), `acknowledged observation ${id} is stored`);
      // Unacknowledged (in flight at the kill) creations may or may not have committed; nothing else appeared.
      const known = new Set([...attemptedMrns, ...cared.map((_, i) => `CARE-${i}`), 'AFTER-RESTART']);
      assert.deepEqual([...patients.values()].filter((mrn) => !known.has(mrn)), []);
      const storedUnacknowledged = [...patients.values()].filter((mrn) => mrn.startsWith('CRASH-')).length - acknowledged.patients.size;

      console.log(
        `# ${database.databaseUrl ? 'postgresql' : 'embedded'}: killed after ${loadMs} ms of load with ${inFlightAtKill} requests in flight, ` +
          `${JSON.stringify(acknowledgedAtKill)} acknowledged; ${acknowledged.patients.size} patient creations acknowledged in all, ` +
          `${storedUnacknowledged} unacknowledged ones committed; ` +
          `${patients.size} patients, ${cases.size} cases, ${observations.size} observations, ${auditRows} audit records; restart ${restartMs} ms`,
      );
    } finally {
      await raw.close();
    }
  },
);

/** Runs `npm run audit:verify` (scripts/audit-verify.ts) on the database, as an operator would. */
async function auditVerify(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = await once(child, 'exit');
  return { code: code as number | null, output };
}

