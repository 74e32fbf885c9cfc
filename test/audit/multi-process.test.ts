import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { startChildServer } from '../support/child-server.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { people, signToken } from '../support/tokens.ts';
import { testServerEnv } from '../support/test-server.ts';

// Two server processes can share a PostgreSQL database; the embedded database
// belongs to one process by design, so this runs in the PostgreSQL pass.
const onPostgres = Boolean(process.env.DATABASE_URL);

it('keeps one verifiable audit chain when two server processes write at once', { skip: !onPostgres && 'needs DATABASE_URL: PGlite is single-process' }, async () => {
  const database = await createTestDatabase();
  after(() => database.drop());
  const env = { ...(await testServerEnv(database)) };
  const servers = await Promise.all([startChildServer(env), startChildServer(env)]);
  after(() => Promise.all(servers.map((server) => server.stop())));
  const admin = `Bearer ${await signToken(people.admin)}`;
  const post = (url: string, query: string) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: admin }, body: JSON.stringify({ query }) }).then(
      (response) => response.json() as Promise<any>,
    );

  const writes = Array.from({ length: 60 }, (_, i) =>
    post(servers[i % 2]!.url, `mutation { createPatient(input: { mrn: "MP-${i}", givenName: "M", familyName: "P", birthDate: "1990-01-01", sex: FEMALE }) { id } }`),
  );
  for (const result of await Promise.all(writes)) assert.equal(result.errors, undefined, JSON.stringify(result.errors));

  const auditor = `Bearer ${await signToken(people.auditor)}`;
  const response = await fetch(servers[1]!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auditor },
    body: JSON.stringify({ query: '{ verifyAuditChain { intact checkedCount } auditEvents(first: 1, filter: { action: "patient.create" }) { totalCount } }' }),
  });
  const { data } = (await response.json()) as any;
  assert.equal(data.verifyAuditChain.intact, true);
  assert.equal(data.auditEvents.totalCount, 60);
  assert.ok(data.verifyAuditChain.checkedCount >= 60);
});
