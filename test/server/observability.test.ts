import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/server/logger.ts';
import { Metrics } from '../../src/server/metrics.ts';
import { createPatient, openCase } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

// The server's own logger (as `npm start` builds it), writing into memory.
const lines: string[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    lines.push(...String(chunk).trim().split('\n'));
    done();
  },
});
const api = await startTestServer({ METRICS_TOKEN: 'scrape-me' }, createLogger('info', sink));
const clinician = api.as(people.clinician);
const patientId = await createPatient(api, { givenName: 'Philippa', familyName: 'Logsworthy', mrn: 'LOG-SECRET-1' });
const caseId = await openCase(api, patientId);
await clinician.gql('mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "x", text: "CONFIDENTIAL-NOTE" }]) { id } }', { id: caseId });

describe('logs', () => {
  it('write one JSON line per GraphQL request with request id, operation, duration and error codes', async () => {
    await clinician.gql('query ReadChart($id: ID!) { patient(id: $id) { familyName } }', { id: patientId }, { 'x-request-id': 'log-check-1' });
    await clinician.gql('query Broken { patient(id: "nope") { id } }', {}, { 'x-request-id': 'log-check-2' });
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // The server names each request with an id of its own; a caller's id is logged beside it.
    const read = entries.find((entry) => entry.clientRequestId === 'log-check-1' && entry.msg === 'graphql request');
    assert.match(String(read?.requestId), /^[0-9a-f-]{36}$/);
    assert.deepEqual([read?.operation, read?.type, read?.errorCodes], ['ReadChart', 'query', []]);
    assert.equal(typeof read?.durationMs, 'number');
    const broken = entries.find((entry) => entry.clientRequestId === 'log-check-2' && entry.msg === 'graphql request');
    assert.deepEqual(broken?.errorCodes, ['BAD_USER_INPUT']);
  });

  it('hold no patient data', () => {
    const all = lines.join('\n');
    for (const secret of ['Philippa', 'Logsworthy', 'LOG-SECRET-1', 'CONFIDENTIAL-NOTE', patientId]) assert.ok(!all.includes(secret), `logs contain ${secret}`);
  });
});

describe('metrics', () => {
  it('are served at /metrics only with the configured token', async () => {
    for (const authorization of [undefined, 'Bearer wrong']) {
      const refused = await fetch(new URL('/metrics', api.url), { headers: authorization ? { authorization } : {} });
      assert.equal(refused.status, 401);
      assert.deepEqual(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors.map((error) => error.extensions.code), ['UNAUTHENTICATED']);
    }
  });

  it('count requests by operation, errors by code, database time and audit appends', async () => {
    const response = await fetch(new URL('/metrics', api.url), { headers: { authorization: 'Bearer scrape-me' } });
    assert.match(response.headers.get('content-type')!, /text\/plain/);
    const text = await response.text();
    assert.match(text, /clinigraph_graphql_request_duration_seconds_count\{operation="ReadChart",type="query",outcome="ok"\} [1-9]/);
    assert.match(text, /clinigraph_graphql_errors_total\{code="BAD_USER_INPUT"\} [1-9]/);
    assert.match(text, /clinigraph_db_query_duration_seconds_count [1-9]/);
    assert.match(text, /clinigraph_audit_append_duration_seconds_count [1-9]/);
    assert.match(text, /clinigraph_audit_records_total [1-9]/);
    assert.match(text, /clinigraph_process_resident_memory_bytes/);
    assert.doesNotMatch(text, new RegExp(patientId));
  });

  it('keep the number of operation labels bounded, whatever names clients send', async () => {
    const names = Array.from({ length: Metrics.maxOperationLabels + 50 }, (_, i) => `Made${i}`);
    for (const name of names) await clinician.gql(`query ${name} { me { subject } }`);
    const text = await api.server.app.metrics.registry.metrics();
    const labels = new Set([...text.matchAll(/clinigraph_graphql_request_duration_seconds_count\{operation="([^"]*)"/g)].map((match) => match[1]));
    const named = [...labels].filter((label) => label !== 'anonymous' && label !== 'other');
    assert.equal(named.length, Metrics.maxOperationLabels);
    assert.ok(labels.has('other') && labels.has('ReadChart') && !labels.has(names.at(-1)), 'the first names kept, the later ones counted as "other"');
  });
});
