import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer();
const { prisma } = api.server.db;

/** Stores patients, each with two cases of three observations, straight into the database. */
async function seed(familyName: string, count: number) {
  for (let i = 0; i < count; i++) {
    await prisma.patient.create({
      data: {
        mrn: `${familyName}-${i}`,
        givenName: 'Batch',
        familyName,
        birthDate: new Date('1970-01-01'),
        sex: 'UNKNOWN',
        careTeam: { create: { clinicianSubject: people.clinician.sub, addedBy: 'test' } },
        cases: {
          create: [0, 1].map((c) => ({
            title: `case ${c}`,
            observations: { create: [1, 2, 3].map((value) => ({ code: 'x', value })) },
          })),
        },
      },
    });
  }
}

async function countQueries(familyName: string, first: number) {
  let queries = 0;
  const stop = api.server.db.onQuery(() => queries++);
  const response = await api.as(people.clinician).gql(
    `query($name: String!, $first: Int!) { patients(filter: { nameContains: $name }, first: $first) {
      edges { node { id cases { id patient { id } observations { value } images { id } } } }
    } }`,
    { name: familyName, first },
  );
  stop();
  assert.equal(response.body.errors, undefined);
  const patients = response.body.data!.patients.edges;
  assert.equal(patients.length, first);
  for (const { node } of patients) {
    assert.equal(node.cases.length, 2);
    for (const episode of node.cases) assert.equal(episode.observations.length, 3);
  }
  return queries;
}

it('loads nested cases, patients, observations and images in batches: 50 patients cost as many SQL queries as 5', async () => {
  await seed('Fewfolk', 5);
  await seed('Manyfolk', 50);
  // After the seeding's writes the server's reads append their audit group the full way once
  // (the chain's head moved); from then on in one statement. Both counts below see the latter.
  await countQueries('Fewfolk', 5);
  const few = await countQueries('Fewfolk', 5);
  const many = await countQueries('Manyfolk', 50);
  // Reads: patients (care-team filter in the query), how the clinician reaches them (care team
  // and break-glass in one statement), their cases, the cases' observations and images. Audit:
  // one grouped append (one statement after the known head). Case.patient and access checks
  // are served from the request's loaders.
  assert.equal(many, few);
  assert.ok(many <= 10, `expected at most 10 queries, saw ${many}`);
});
