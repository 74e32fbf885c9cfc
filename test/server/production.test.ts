import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

const production = await startTestServer({ CLINIGRAPH_MODE: 'production' });
const admin = production.as(people.admin);

const registered = 'query Me { me { subject roles } }';
const hash = createHash('sha256').update(registered).digest('hex');
const manifest = path.join(os.tmpdir(), `clinigraph-trusted-${process.pid}.json`);
await writeFile(manifest, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: hash, name: 'Me', type: 'query', body: registered }] }));
const trusted = await startTestServer({ CLINIGRAPH_MODE: 'production', TRUSTED_DOCUMENTS: manifest });

describe('production mode', () => {
  it('turns introspection off', async () => {
    const response = await admin.gql('{ __schema { types { name } } }');
    assert.deepEqual(errorCodes(response), ['GRAPHQL_VALIDATION_FAILED']);
    assert.match(response.body.errors![0]!.message, /introspection/i);
  });

  it('does not suggest field names', async () => {
    const response = await admin.gql('{ patientz(first: 1) { totalCount } }');
    assert.deepEqual(errorCodes(response), ['GRAPHQL_VALIDATION_FAILED']);
    assert.doesNotMatch(response.body.errors![0]!.message, /did you mean|patients/i);
  });

  it('sends security headers and no explorer page', async () => {
    const response = await fetch(production.url, { headers: { accept: 'text/html' } });
    assert.doesNotMatch(await response.text(), /<html|sandbox/i);
    for (const header of ['content-security-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'referrer-policy']) {
      assert.ok(response.headers.get(header), `${header} is set`);
    }
    assert.equal(response.headers.get('x-powered-by'), null);
  });

  it('keeps CSRF prevention on: a simple GET with a query is refused', async () => {
    const url = new URL(production.url);
    url.searchParams.set('query', '{ me { subject } }');
    const response = await fetch(url, { headers: { authorization: `Bearer ${await signToken(people.admin)}` } });
    assert.equal(response.status, 400);
    const preflighted = await fetch(url, { headers: { authorization: `Bearer ${await signToken(people.admin)}`, 'apollo-require-preflight': 'true' } });
    assert.equal(preflighted.status, 200);
  });

  it('lets no browser or proxy keep a copy of any answer (Cache-Control: no-store)', async () => {
    const id = (await admin.gql('mutation { createPatient(input: { mrn: "NS-1", givenName: "A", familyName: "B", birthDate: "1990-01-01", sex: MALE }) { id } }')).body.data!.createPatient.id;
    const url = new URL(production.url);
    url.searchParams.set('query', `{ patient(id: "${id}") { mrn } }`);
    const read = await admin.gql('query($id: ID!) { patient(id: $id) { mrn familyName } }', { id });
    assert.equal(read.body.data!.patient.mrn, 'NS-1');
    const answers = [
      read,
      await admin.gql('{ patient(id: "not-an-id") { mrn } }'),
      await production.gql('{ patients(first: 1) { totalCount } }'),
      await fetch(url, { headers: { authorization: `Bearer ${await signToken(people.admin)}`, 'apollo-require-preflight': 'true' } }),
      await fetch(new URL('/readyz', production.url)),
      await fetch(new URL('/nowhere', production.url)),
    ];
    for (const [i, answer] of answers.entries()) assert.equal(answer.headers.get('cache-control'), 'no-store', `answer ${i}`);
  });

  it('masks unexpected errors: no stack, no SQL, no message from inside', async () => {
    // Dropping a table the server reads from makes the next read fail inside the database layer.
    const id = (await admin.gql('mutation { createPatient(input: { mrn: "P-1", givenName: "A", familyName: "B", birthDate: "1990-01-01", sex: MALE }) { id } }')).body.data!.createPatient.id;
    await production.asOwner('ALTER TABLE "CareTeamMember" RENAME TO "CareTeamMemberMoved"');
    try {
      const response = await admin.gql('query($id: ID!) { patient(id: $id) { careTeam { clinicianSubject } } }', { id });
      assert.deepEqual(errorCodes(response), ['INTERNAL_SERVER_ERROR']);
      const body = JSON.stringify(response.body);
      assert.doesNotMatch(body, /CareTeamMember\b|relation|SELECT|prisma|\.ts:\d+|stack/i);
    } finally {
      await production.asOwner('ALTER TABLE "CareTeamMemberMoved" RENAME TO "CareTeamMember"');
    }
  });
});

describe('trusted documents', () => {  const post = async (body: unknown) => {
    const response = await fetch(trusted.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(people.admin)}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('runs a registered operation named by its hash, or sent in full', async () => {
    for (const body of [{ documentId: `sha256:${hash}` }, { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }, { query: registered }]) {
      const response = await post(body);
      assert.deepEqual(response.body.data, { me: { subject: people.admin.sub, roles: ['admin'] } }, JSON.stringify(body));
    }
  });

  it('refuses any other document, and refuses to register new ones', async () => {
    const other = await post({ query: '{ patients(first: 100) { edges { node { id mrn } } } }' });
    assert.equal(other.status, 400);
    assert.equal(other.body.errors[0].extensions.code, 'UNTRUSTED_DOCUMENT');
    const query = '{ me { subject } }';
    const registering = await post({ query, extensions: { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(query).digest('hex') } } });
    assert.equal(registering.body.errors[0].extensions.code, 'UNTRUSTED_DOCUMENT');
  });
});
