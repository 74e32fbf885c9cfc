import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { startChildServer } from '../support/child-server.ts';
import { modelObservations } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { type Identity, people, signToken } from '../support/tokens.ts';
import { testServerEnv } from '../support/test-server.ts';

// Replicas share one PostgreSQL; the embedded database belongs to one process, so this runs in the PostgreSQL pass.
const onPostgres = Boolean(process.env.DATABASE_URL);

it('serves the same data and the same model version from two replicas on one database', { skip: !onPostgres && 'needs DATABASE_URL: PGlite is single-process' }, async () => {
  const database = await createTestDatabase();
  after(() => database.drop());
  const env = { ...(await testServerEnv(database)), DEFAULT_MODELS: 'true' };
  // Both start at once on an empty registry: the default models are installed once, not twice.
  const [a, b] = await Promise.all([startChildServer(env), startChildServer(env)]);
  after(() => Promise.all([a.stop(), b.stop()]));
  const call = async (url: string, identity: Identity, query: string, variables: Record<string, unknown> = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(identity)}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };

  const registry = '{ models { name versions { id version stage weightsSha256 } } }';
  const [registryA, registryB] = await Promise.all([call(a.url, people.dataScientist, registry), call(b.url, people.dataScientist, registry)]);
  assert.deepEqual(registryA, registryB);
  assert.deepEqual(registryA.models.map((m: any) => m.versions.length), [1, 1, 1, 1]);

  // Written through one replica, read and used through the other.
  const patient = await call(a.url, people.admin, 'mutation { createPatient(input: { mrn: "SCALE-1", givenName: "S", familyName: "Cale", birthDate: "1970-01-01", sex: FEMALE }) { id } }');
  const patientId = patient.createPatient.id;
  await call(a.url, people.admin, 'mutation($id: ID!) { addCareTeamMember(patientId: $id, clinicianSubject: "dr-carter") { clinicianSubject } }', { id: patientId });
  const opened = await call(b.url, people.clinician, 'mutation($id: ID!) { openCase(input: { patientId: $id, title: "replica" }) { id } }', { id: patientId });
  const caseId = opened.openCase.id;
  await call(a.url, people.clinician, 'mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }', {
    id: caseId,
    o: await modelObservations('breast-cancer', 8),
  });
  const predict = 'mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { probabilities { label probability } modelVersion { id } } }';
  const [onA, onB] = [await call(a.url, people.clinician, predict, { id: caseId }), await call(b.url, people.clinician, predict, { id: caseId })];
  assert.deepEqual(onA.predict, onB.predict, 'both replicas answer with the same version and the same probabilities');
  const read = 'query($id: ID!) { case(id: $id) { predictions { id } observations { code } } }';
  assert.deepEqual(await call(a.url, people.clinician, read, { id: caseId }), await call(b.url, people.clinician, read, { id: caseId }));

  // A version trained by one replica exists nowhere but in the database; promoted there, the other replica serves it next.
  const csv = await readFile(fileURLToPath(new URL('../../datasets/wdbc.csv', import.meta.url)), 'utf8');
  const input = { name: 'breast-cancer', task: 'BINARY', target: 'diagnosis', data: { csv }, positiveClass: 'malignant', seed: 7, maxEpochs: 20 };
  const job = (await call(a.url, people.dataScientist, 'mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', { input })).trainModel;
  let trained: { status: string; error: string | null; modelVersion: { id: string; weightsSha256: string } | null } | undefined;
  for (let attempt = 0; attempt < 600 && !['SUCCEEDED', 'FAILED'].includes(trained?.status ?? ''); attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    // Progress is read through the other replica: it lives in the database too.
    trained = (await call(b.url, people.dataScientist, 'query($id: ID!) { trainingJob(id: $id) { status error modelVersion { id weightsSha256 } } }', { id: job.id })).trainingJob;
  }
  assert.equal(trained?.status, 'SUCCEEDED', trained?.error ?? 'the training job did not finish in 2 minutes');
  const v2 = trained!.modelVersion!;
  assert.notEqual(v2.weightsSha256, registryA.models.find((m: any) => m.name === 'breast-cancer').versions[0].weightsSha256);
  await call(a.url, people.admin, 'mutation($id: ID!) { promoteModelVersion(id: $id, comment: "scale-out test") { id } }', { id: v2.id });
  const [afterOnB, afterOnA] = [await call(b.url, people.clinician, predict, { id: caseId }), await call(a.url, people.clinician, predict, { id: caseId })];
  assert.equal(afterOnB.predict.modelVersion.id, v2.id, 'the other replica predicts with the promoted version');
  assert.deepEqual(afterOnB.predict, afterOnA.predict, 'from the same weights');
  assert.notDeepEqual(afterOnB.predict.probabilities, onB.predict.probabilities, 'new weights, new probabilities');
});
