import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startTestServer } from '../support/test-server.ts';

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
  const response = await api.gql(
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
  const few = await countQueries('Fewfolk', 5);
  const many = await countQueries('Manyfolk', 50);
  // patients, their cases, the cases' observations, the cases' images (Case.patient is cached)
  assert.equal(many, few);
  assert.ok(many <= 4, `expected at most 4 queries, saw ${many}`);
});
