import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64url, generateKeyPair, SignJWT } from 'jose';
import { type FuzzSummary, runFuzzInWorker } from '../support/fuzz-client.ts';
import { describeRequest, type FuzzWorld, generateRequest, type TokenKind } from '../support/fuzz-requests.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people, signToken, testAudience, testIssuer, testKeys } from '../support/tokens.ts';

/*
 * 10,000 generated malformed or hostile requests against one live server over
 * real HTTP (production configuration, rate limits out of the way): no crash, no
 * response without an error code, no internals leaked. The requests come from
 * a seeded generator (test/support/fuzz-requests.ts), sent from a worker
 * thread 16 at a time. FUZZ_SEED runs another, equally reproducible, sequence;
 * FUZZ_ONLY=12,345 replays just those requests of it.
 */
const seed = Number(process.env.FUZZ_SEED ?? 20261129);
const count = 10_000;
const concurrency = 16;
const indexes = process.env.FUZZ_ONLY ? process.env.FUZZ_ONLY.split(',').map(Number) : Array.from({ length: count }, (_, i) => i);
const maxRssBytes = 1.5 * 1024 ** 3;

const api = await startTestServer({ CLINIGRAPH_MODE: 'production', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000' });
const origin = new URL(api.url).origin;

// Rows the requests point at: five patients on dr-carter's care team and one on dr-outsider's, each with an open case.
const world: FuzzWorld = { patientIds: [], caseIds: [], mrns: [] };
for (let i = 0; i < 6; i++) {
  const team = i === 5 ? [people.otherClinician] : [people.clinician];
  const mrn = `FUZZ-${process.pid}-${i}`;
  const patientId = await createPatient(api, { mrn }, team);
  world.patientIds.push(patientId);
  world.mrns.push(mrn);
  world.caseIds.push(await openCase(api, patientId, `Fuzz case ${i}`, team[0]));
}

/** One token of every kind the generator names: valid ones for each role, and refused ones of every sort. */
async function signTokens(): Promise<Record<TokenKind, string>> {
  const now = Math.floor(Date.now() / 1000);
  const long = { expiresIn: 3600 };
  const valid = await signToken(people.clinician, long);
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
  const claims = { sub: people.clinician.sub, iss: testIssuer, aud: testAudience, iat: now, exp: now + 3600, roles: ['clinician'] };
  return {
    admin: await signToken(people.admin, long),
    clinician: valid,
    otherClinician: await signToken(people.otherClinician, long),
    auditor: await signToken(people.auditor, long),
    dataScientist: await signToken(people.dataScientist, long),
    expired: await signToken(people.clinician, { expiresIn: now - 3600 }),
    notYetValid: await signToken(people.clinician, { ...long, claims: { nbf: now + 3600 } }),
    wrongIssuer: await signToken(people.admin, { ...long, claims: { iss: 'https://idp.evil.example' } }),
    wrongAudience: await signToken(people.admin, { ...long, claims: { aud: 'another-api' } }),
    noRoles: await signToken(people.admin, { ...long, claims: { roles: [] } }),
    unknownRole: await signToken(people.admin, { ...long, claims: { roles: ['root', 'superuser'] } }),
    rolesNotAList: await signToken(people.admin, { ...long, claims: { roles: 'admin' as unknown as string[] } }),
    noSubject: await signToken(people.admin, { ...long, claims: { sub: undefined } }),
    algNone: `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`,
    hs256WithPublicKey: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode((await testKeys()).publicKeyPem)),
    badSignature: `${header}.${payload}.${flipped}`,
    otherKey: await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign((await generateKeyPair('ES256')).privateKey),
  };
}
const tokens = await signTokens();
const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

let summary: FuzzSummary | undefined;

/** The request ids of every refused-token record in the audit log (paged through as an auditor). */
async function refusalsInAuditLog(): Promise<Set<string>> {
  const auditor = api.as(people.auditor);
  const ids = new Set<string>();
  let after: string | null = null;
  do {
    const page: any = await auditor.gql(
      'query($after: String) { auditEvents(filter: { action: "auth.authenticate", outcome: DENIED }, first: 100, after: $after) { edges { node { requestId } } pageInfo { hasNextPage endCursor } } }',
      { after },
    );
    assert.equal(page.body.errors, undefined, JSON.stringify(page.body.errors));
    for (const edge of page.body.data.auditEvents.edges) ids.add(edge.node.requestId);
    after = page.body.data.auditEvents.pageInfo.hasNextPage ? page.body.data.auditEvents.pageInfo.endCursor : null;
  } while (after);
  return ids;
}

describe(`hostile input (${indexes.length} generated requests, FUZZ_SEED=${seed}, ${concurrency} in flight)`, () => {
  it('answers every request with JSON, an error code on every error, and no internals', async () => {
    summary = await runFuzzInWorker({ origin, seed, indexes, concurrency, world, tokens });
    assert.equal(summary.sent, indexes.length, 'every request was sent');
    console.log(`${summary.sent} requests in ${summary.seconds.toFixed(1)} s (${Math.round(summary.sent / summary.seconds)}/s); by status: ${JSON.stringify(summary.byStatus)}`);
    for (const [kind, outcomes] of Object.entries(summary.byKind).sort()) {
      const latency = summary.latency[kind]!;
      const shares = Object.entries(outcomes).sort((a, b) => b[1] - a[1]).map(([outcome, n]) => `${outcome} x${n}`);
      console.log(`  ${kind} (${latency.n}; mean ${(latency.total / latency.n).toFixed(0)} ms, max ${latency.max.toFixed(0)} ms): ${shares.join(', ')}`);
    }
    const problems = Object.entries(summary.problems).sort((a, b) => b[1].count - a[1].count);
    const report = problems
      .map(([problem, { count: n, kinds, examples }]) => {
        const byKind = Object.entries(kinds).sort((a, b) => b[1] - a[1]).map(([kind, k]) => `${kind} x${k}`);
        return `${problem}: ${n} requests (${byKind.join(', ')}), e.g.\n${examples.map((example) => example.text).join('\n')}`;
      })
      .join('\n\n');
    if (problems.length > 0) console.log(`PROBLEMS:\n${report}`);
    assert.equal(problems.length, 0, `${problems.length} distinct problems:\n${report}`);
  });

  it('recorded every refused token in the audit log (README: every refused token is recorded)', async () => {
    assert.ok(summary, 'the run finished');
    const recorded = await refusalsInAuditLog();
    const missing = summary.refusals.filter(({ requestId }) => !recorded.has(requestId));
    console.log(`${summary.refusals.length} requests refused for their token (401/403); ${summary.refusals.length - missing.length} of them in the audit log`);
    const examples = missing.slice(0, 3).map(({ index }) => describeRequest(generateRequest(seed, index, world), seed));
    assert.equal(missing.length, 0, `${missing.length} refused requests left no audit record, e.g.\n${examples.join('\n')}`);
  });

  it('still answers normal requests correctly afterwards, is healthy, and polluted no prototype', async () => {
    const read = await api.as(people.clinician).gql('query($id: ID!) { patient(id: $id) { id mrn } }', { id: world.patientIds[0] });
    assert.deepEqual(read.body, { data: { patient: { id: world.patientIds[0], mrn: world.mrns[0] } } });
    assert.deepEqual((await api.as(people.admin).gql('{ me { subject roles } }')).body, { data: { me: { subject: people.admin.sub, roles: ['admin'] } } });
    assert.equal((await fetch(new URL('/healthz', origin))).status, 200);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeBefore);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('kept its memory bounded', () => {
    const { rss, heapUsed } = process.memoryUsage();
    console.log(`afterwards: rss ${(rss / 1024 ** 2).toFixed(0)} MiB, heap ${(heapUsed / 1024 ** 2).toFixed(0)} MiB (server, test and worker in one process)`);
    assert.ok(rss < maxRssBytes, `rss ${(rss / 1024 ** 2).toFixed(0)} MiB is over ${maxRssBytes / 1024 ** 2} MiB`);
  });

  it('left an audit chain that verifies', async () => {
    const chain = await api.as(people.auditor).gql('{ verifyAuditChain { intact checkedCount problem firstInvalidSequence } }');
    console.log(`audit chain: ${JSON.stringify(chain.body.data?.verifyAuditChain)}`);
    assert.equal(chain.body.data?.verifyAuditChain?.intact, true, JSON.stringify(chain.body));
  });
});

// The smallest requests that show each problem the generated run found, so a failure names its cause.
describe('hostile text that reaches the database and the audit log', () => {
  const post = async (body: unknown, authorization: string) => {
    const response = await fetch(api.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(body) });
    return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as { errors?: { extensions?: { code?: string } }[] } };
  };
  const clientErrorCodes = ['BAD_USER_INPUT', 'BAD_REQUEST'];

  it('answers NUL characters and unpaired surrogates in variables with a client error, not INTERNAL_SERVER_ERROR', async () => {
    const cases: [TokenKind, string, Record<string, unknown>][] = [
      ['clinician', 'query($n: String) { patients(filter: { nameContains: $n }) { totalCount } }', { n: 'a\u0000b' }],
      ['clinician', 'query { patients(filter: { nameContains: "\\u0000" }) { totalCount } }', {}],
      ['admin', 'mutation($p: ID!, $s: String!) { addCareTeamMember(patientId: $p, clinicianSubject: $s) { clinicianSubject } }', { p: world.patientIds[1], s: 'dr-\udfff' }],
      ['clinician', 'mutation($i: OpenCaseInput!) { openCase(input: $i) { id } }', { i: { patientId: world.patientIds[1], title: 'title \u0000' } }],
    ];
    const wrong: string[] = [];
    for (const [token, query, variables] of cases) {
      const answer = await post({ query, variables }, `Bearer ${tokens[token]}`);
      const codes = (answer.body.errors ?? []).map((error) => error.extensions?.code);
      if (codes.length === 0 || !codes.every((code) => clientErrorCodes.includes(code!))) wrong.push(`${query} ${JSON.stringify(variables)} -> HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('answers a persisted-query hash that does not match its query, or an unknown version, with a client error', async () => {
    for (const extensions of [{ persistedQuery: { version: 1, sha256Hash: 'b'.repeat(64) } }, { persistedQuery: { version: 2, sha256Hash: 'b'.repeat(64) } }]) {
      const answer = await post({ query: '{ me { subject } }', extensions }, `Bearer ${tokens.clinician}`);
      assert.equal(answer.status, 400);
      assert.deepEqual(answer.body.errors?.map((error) => error.extensions?.code), ['BAD_REQUEST'], JSON.stringify(answer.body));
    }
  });

  it('records a refused token whose request names an operation with a NUL character', async () => {
    const answer = await post({ query: 'query Me { me { subject } }', operationName: 'Me\u0000' }, 'Bearer not.a.token');
    assert.equal(answer.status, 401);
    assert.ok((await refusalsInAuditLog()).has(answer.requestId!), 'the refusal is in the audit log');
  });

  // Last: when it fails, the chain of this server stays broken for good.
  it('keeps the audit chain intact when a refused request names an operation with an unpaired surrogate', async () => {
    const answer = await post({ query: 'query Me { me { subject } }', operationName: 'Me\ud800' }, 'Bearer not.a.token');
    assert.equal(answer.status, 401);
    const chain = await api.as(people.auditor).gql('{ verifyAuditChain { intact problem firstInvalidSequence } }');
    assert.deepEqual(chain.body.data?.verifyAuditChain, { intact: true, problem: null, firstInvalidSequence: null });
  });
});
