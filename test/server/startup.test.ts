import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startChildServer } from '../support/child-server.ts';
import { createTestDatabase } from '../support/test-database.ts';

// What `npm start` does on a new installation: an empty database (embedded, or
// the PostgreSQL of DATABASE_URL), migrations, demo data, then requests.
const database = await createTestDatabase({ empty: true });
after(() => database.drop());
const env = { DATA_DIR: database.dataDir, ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) };

const tokens = new Map<string, Promise<string>>();

/**
 * What `npm run token -- --sub <subject> --role <role>` prints, for the
 * server's development key: made once for each subject and role (a process
 * costs 2 s of CPU), so the restarted server is asked with a token made before.
 */
function token(subject = 'demo-admin', role = 'admin'): Promise<string> {
  const key = `${subject}/${role}`;
  if (!tokens.has(key)) tokens.set(key, developmentToken(subject, role));
  return tokens.get(key)!;
}

async function developmentToken(subject: string, role: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', subject, '--role', role], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { PATH: process.env.PATH!, DATA_DIR: database.dataDir },
  });
  return stdout.trim();
}

async function demoPatients(url: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
    body: JSON.stringify({ query: '{ patients(first: 50) { totalCount edges { node { mrn familyName careTeam { clinicianSubject } } } } }' }),
  });
  return ((await response.json()) as any).data.patients;
}

/** Polls /readyz until it answers 200 (the production models warm up after the server listens). */
async function whenReady(url: string) {
  for (let attempt = 0; attempt < 300; attempt++) {
    const response = await fetch(new URL('/readyz', url));
    if (response.status === 200) return response.json();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('not ready after 30 s');
}

it('starts on an empty database: migrates, installs the default models, loads the demo data once, is ready, and stops cleanly on SIGTERM', async () => {
  const first = await startChildServer(env);
  after(() => first.stop());
  assert.deepEqual(await whenReady(first.url), {
    status: 'ready',
    database: database.databaseUrl ? 'postgresql' : 'embedded',
    databaseReachable: true,
    pendingMigrations: [],
    modelsWarm: true,
    tensorflowBackend: 'wasm',
  });
  assert.equal((await fetch(new URL('/healthz', first.url))).status, 200);
  const patients = await demoPatients(first.url);
  assert.equal(patients.totalCount, 5);
  for (const { node } of patients.edges) {
    assert.match(node.mrn, /^DEMO-/);
    assert.deepEqual(node.careTeam, [{ clinicianSubject: 'demo-clinician' }]);
  }
  // The README's first prediction: the demo clinician asks the breast-cancer model about a demo case.
  const clinician = { 'content-type': 'application/json', authorization: `Bearer ${await token('demo-clinician', 'clinician')}` };
  const post = async (query: string) => ((await (await fetch(first.url, { method: 'POST', headers: clinician, body: JSON.stringify({ query }) })).json()) as any);
  const cases = (await post('{ patientByMrn(mrn: "DEMO-0001") { cases { id title } } }')).data.patientByMrn.cases;
  const breast = cases.find((episode: { title: string }) => episode.title.startsWith('Breast lump'));
  const predicted = await post(`mutation { predict(caseId: "${breast.id}", model: "breast-cancer") { label explanation { summary } } }`);
  assert.match(predicted.data.predict.label, /^(benign|malignant)$/);
  assert.equal(predicted.data.predict.explanation.summary.length, 5);
  // SIGTERM to the documented start command's process (as a service manager or container sends it) is a graceful stop of the server itself.
  assert.equal(await first.stop('SIGTERM'), 0);
  await assert.rejects(fetch(new URL('/healthz', first.url)), 'nothing listens after the stop');

  // A restart keeps what is stored and does not load the demo data again.
  const second = await startChildServer(env);
  after(() => second.stop());
  assert.equal((await demoPatients(second.url)).totalCount, 5);
  assert.doesNotMatch(second.output(), /migrations applied|demo data loaded/);
});

it('reports not ready while migrations are pending, and refuses to start with a bad setting', async () => {
  const fresh = await createTestDatabase({ unmigrated: true });
  after(() => fresh.drop());
  const server = await startChildServer({
    DATA_DIR: fresh.dataDir,
    MIGRATE_ON_START: 'false',
    DEMO_DATA: 'false',
    ...(fresh.databaseUrl ? { DATABASE_URL: fresh.databaseUrl } : {}),
  });
  after(() => server.stop());
  const ready = await fetch(new URL('/readyz', server.url));
  assert.equal(ready.status, 503);
  assert.match(server.output(), /migrations pending: default models and demo data are not loaded/);
  const body = (await ready.json()) as { pendingMigrations: string[] };
  assert.ok(body.pendingMigrations.length > 0);
  await assert.rejects(startChildServer({ ...env, PORT: 'eighty' }), (error: Error) => {
    assert.match(error.message, /exited with 1[\s\S]*PORT: /);
    assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace');
    return true;
  });
});
