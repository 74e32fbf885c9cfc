import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/server/logger.ts';
import { createPatient } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

// The production configuration, with the server's own logger (as `npm start` builds it) writing into memory.
const lines: string[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    lines.push(...String(chunk).trim().split('\n'));
    done();
  },
});
const api = await startTestServer({ CLINIGRAPH_MODE: 'production' }, createLogger('info', sink));
const admin = api.as(people.admin);
const auditor = api.as(people.auditor);
await createPatient(api);

const cursor = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** Text a client sent that must not come back in a log line. */
const marker = 'ZZCLIENTTEXTZZ';

describe('enum values are not suggested in production', () => {
  const cases: [string, string, Record<string, unknown>?][] = [
    ['Sex in a literal', `mutation { createPatient(input: { mrn: "E-1", givenName: "A", familyName: "B", birthDate: "1990-01-01", sex: FEMAL }) { id } }`],
    [
      'Sex in a variable',
      'mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }',
      { input: { mrn: 'E-2', givenName: 'A', familyName: 'B', birthDate: '1990-01-01', sex: 'FEMAL' } },
    ],
    ['ReviewDecision in a literal', 'mutation { reviewPrediction(id: "00000000-0000-4000-8000-000000000000", decision: AGRE) { id } }'],
    ['ReviewDecision in a variable', 'mutation($d: ReviewDecision!) { reviewPrediction(id: "00000000-0000-4000-8000-000000000000", decision: $d) { id } }', { d: 'AGRE' }],
    ['AuditOutcome in a literal', '{ auditEvents(filter: { outcome: SUCCES }) { totalCount } }'],
    ['AuditOutcome in a variable', 'query($o: AuditOutcome) { auditEvents(filter: { outcome: $o }) { totalCount } }', { o: 'SUCCES' }],
    ['an input field in a variable', 'query($f: PatientFilter) { patients(filter: $f) { totalCount } }', { f: { mrm: 'X' } }],
    ['an argument', '{ patients(frist: 1) { totalCount } }'],
    ['a misspelt enum type name', 'query($o: AuditOutcom) { auditEvents(filter: { outcome: $o }) { totalCount } }', { o: 'SUCCESS' }],
  ];
  for (const [name, query, variables] of cases) {
    it(`refuses ${name} without naming the valid values`, async () => {
      const response = await admin.gql(query, variables);
      assert.ok(errorCodes(response).every((code) => code === 'GRAPHQL_VALIDATION_FAILED' || code === 'BAD_USER_INPUT'), JSON.stringify(response.body));
      const text = JSON.stringify(response.body.errors);
      // The valid values (or the type name the client meant) would reveal the schema introspection hides.
      assert.doesNotMatch(text, /did you mean|FEMALE|\\"MALE|AGREE\\"|DISAGREE|SUCCESS\\"|DENIED/i, text);
    });
  }
});

describe('a document run often (on a plan compiled for it) answers client errors as graphql-js does', () => {
  const often = 'query Often($first: Int) { patients(first: $first) { totalCount } }';
  const post = async (body: Record<string, unknown>) => {
    const response = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(people.admin)}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
  };

  it('answers variables that do not coerce with BAD_USER_INPUT, and an operation it does not hold with a client error', async () => {
    for (let run = 0; run < 3; run++) assert.equal((await admin.gql(often, { first: 2 })).body.errors, undefined);
    const badVariable = await post({ query: often, variables: { first: 'many' } });
    assert.equal(badVariable.status, 400);
    assert.deepEqual(badVariable.body.errors?.map((error) => error.extensions?.code), ['BAD_USER_INPUT']);
    for (const operationName of ['Other', '', '__proto__']) {
      const unknown = await post({ query: often, variables: { first: 2 }, operationName });
      assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
      assert.equal(unknown.body.data, undefined);
      assert.notEqual(unknown.body.errors?.[0]?.extensions?.code, 'INTERNAL_SERVER_ERROR');
    }
  });

  it('masks and logs a failure inside a resolver as a document run once does', async () => {
    const failing = 'query Failing { breakGlassGrants(first: 1) { totalCount } }';
    for (let run = 0; run < 3; run++) assert.equal((await auditor.gql(failing)).body.errors, undefined);
    const logged = lines.length;
    await api.asOwner('ALTER TABLE "BreakGlassGrant" RENAME TO "BreakGlassGrantAway"');
    try {
      const response = await auditor.gql(failing);
      assert.deepEqual(errorCodes(response), ['INTERNAL_SERVER_ERROR']);
      assert.match(response.body.errors![0]!.message, /^Internal server error\. The request id/);
      assert.ok(lines.slice(logged).some((line) => line.includes('unexpected error while answering a GraphQL request')), 'the failure is logged');
    } finally {
      await api.asOwner('ALTER TABLE "BreakGlassGrantAway" RENAME TO "BreakGlassGrant"');
      // The log check below is of client errors only; this failure was the server's, on purpose.
      lines.splice(logged);
    }
  });
});

describe('malformed cursors and subjects are the client\'s errors', () => {
  const malformed: [string, string][] = [
    ['a patient cursor holding a non-uuid id', cursor(['2026-01-01T00:00:00.000Z', `${marker}'; SELECT 1`])],
    ['a patient cursor of the year -271821', cursor(['-271821-04-20T00:00:00.000Z', '00000000-0000-4000-8000-000000000000'])],
  ];
  for (const [name, after] of malformed) {
    it(`answers BAD_USER_INPUT for ${name}`, async () => {
      const response = await admin.gql('query($after: String) { patients(first: 5, after: $after) { totalCount edges { node { id } } } }', { after });
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(response.body));
      assert.equal(response.body.errors![0]!.extensions!.argument, 'after');
    });
  }

  it('answers BAD_USER_INPUT for a break-glass cursor holding a non-uuid id', async () => {
    const after = cursor(['2026-01-01T00:00:00.000Z', marker]);
    const response = await auditor.gql('query($after: String) { breakGlassGrants(first: 5, after: $after) { edges { node { id } } } }', { after });
    assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(response.body));
  });

  it('answers BAD_USER_INPUT for an audit cursor past the largest int8', async () => {
    for (const after of [cursor('seq:9223372036854775808'), cursor('seq:9999999999999999999')]) {
      for (const field of ['auditEvents', 'exportAuditEvents']) {
        const response = await auditor.gql(`query($after: String) { ${field}(first: 5, after: $after) { __typename } }`, { after });
        assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], `${field}: ${JSON.stringify(response.body)}`);
      }
    }
    const largest = await auditor.gql('query($after: String) { auditEvents(first: 5, after: $after) { totalCount } }', { after: cursor('seq:9223372036854775807') });
    assert.equal(largest.body.errors, undefined, 'the largest int8 is a valid position');
  });

  it('answers UNAUTHENTICATED for a validly signed token whose subject holds NUL or a lone surrogate', async () => {
    for (const sub of [`dr-${marker}\u0000`, `dr-${marker}\uD800`]) {
      const token = await signToken({ sub, roles: ['admin'] });
      const response = await api.gql('{ patients(first: 1) { totalCount } }', undefined, { authorization: `Bearer ${token}` });
      assert.equal(response.status, 401);
      assert.deepEqual(errorCodes(response), ['UNAUTHENTICATED']);
    }
  });

  it('refuses a document with NUL in a string literal every time it comes (each document is checked once, then remembered)', async () => {
    const document = (text: string) => `{ patients(filter: { nameContains: "${text}" }) { totalCount } }`;
    for (let i = 0; i < 3; i++) {
      const refused = await admin.gql(document('\\u0000'));
      assert.equal(refused.status, 400);
      assert.deepEqual(errorCodes(refused), ['BAD_USER_INPUT']);
      const clean = await admin.gql(document('x'));
      assert.equal(clean.status, 200, JSON.stringify(clean.body));
    }
  });

  it('never writes an INTERNAL_SERVER_ERROR, database text or the client\'s text to the log', () => {
    const log = lines.join('\n');
    assert.doesNotMatch(log, /INTERNAL_SERVER_ERROR|unexpected error/, log);
    assert.ok(!log.includes(marker), 'the log quotes what the client sent');
    assert.doesNotMatch(log, /invalid input syntax|out of range|SELECT|prisma\.\w+\.\w+\(\)/i);
  });
});
