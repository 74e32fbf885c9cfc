import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { startServer } from '../../src/server/start.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { testServerEnv } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

// A read replica needs a PostgreSQL primary; the embedded database has none.
const serverUrl = process.env.DATABASE_URL;

it('sends list reads to the read replica and keeps writes and records by id on the primary', { skip: !serverUrl && 'needs DATABASE_URL' }, async () => {
  // A "replica" that is a snapshot of the primary taken before the server starts: whatever
  // the server writes afterwards is on the primary only, so each read shows where it went.
  const primary = await createTestDatabase();
  after(() => primary.drop());
  const snapshotName = `${new URL(primary.databaseUrl!).pathname.slice(1)}_replica`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${snapshotName}" TEMPLATE "${new URL(primary.databaseUrl!).pathname.slice(1)}"`);
  after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${snapshotName}" WITH (FORCE)`);
    await admin.end();
  });
  const replicaUrl = new URL(primary.databaseUrl!);
  replicaUrl.pathname = `/${snapshotName}`;

  const server = await startServer(loadConfig({ ...(await testServerEnv(primary)), DATABASE_READ_URL: replicaUrl.toString() }), pino({ level: 'silent' }));
  after(() => server.stop());
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(people.admin)}` },
      body: JSON.stringify({ query, variables }),
    });
    return ((await response.json()) as { data: any }).data;
  };
  const created = await gql('mutation { createPatient(input: { mrn: "PRIMARY-ONLY", givenName: "P", familyName: "Rimary", birthDate: "1980-01-01", sex: MALE }) { id } }');
  const id = created.createPatient.id;
  assert.deepEqual((await gql('query($id: ID!) { patient(id: $id) { mrn } }', { id })).patient, { mrn: 'PRIMARY-ONLY' }, 'by id: the primary');
  assert.equal((await gql('{ patients(first: 10) { totalCount } }')).patients.totalCount, 0, 'the list: the replica, which has not got it');
});
