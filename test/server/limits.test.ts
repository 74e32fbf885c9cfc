import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { createPatient, openCase } from '../support/fixtures.ts';
import { errorCodes, type GraphQLResponse, startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

const api = await startTestServer({ MAX_BODY_BYTES: '65536', REQUEST_TIMEOUT_MS: '1500' });
const clinician = api.as(people.clinician);
const patientId = await createPatient(api);
await openCase(api, patientId);

/** Counts the SQL statements a request causes: a request refused before execution causes none but its audit. */
async function queriesDuring(work: () => Promise<unknown>) {
  let count = 0;
  const stop = api.server.db.onQuery(() => count++);
  await work();
  stop();
  return count;
}

async function raw(body: string, headers: Record<string, string> = {}) {
  const response = await fetch(api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(people.clinician)}`, ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] } };
}

describe('query limits', () => {
  it('rejects a depth bomb before running it, and keeps answering others meanwhile', async () => {
    let nested = 'id';
    for (let i = 0; i < 12; i++) nested = `cases { patient { ${nested} } }`;
    const bomb = `query($id: ID!) { patient(id: $id) { ${nested} } }`;
    let response: GraphQLResponse | undefined;
    const sql = await queriesDuring(async () => {
      const [bombed, normal] = await Promise.all([clinician.gql(bomb, { id: patientId }), clinician.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId })]);
      response = bombed;
      assert.equal(normal.body.errors, undefined);
    });
    assert.ok(errorCodes(response!).every((code) => code === 'GRAPHQL_VALIDATION_FAILED'));
    assert.ok(response!.body.errors!.some((error) => /depth/i.test(error.message)), JSON.stringify(response!.body.errors));
    assert.ok(sql < 15, 'the bomb ran no resolver');
  });

  it('rejects an alias bomb', async () => {
    const aliases = Array.from({ length: 200 }, (_, i) => `a${i}: me { subject }`).join(' ');
    const response = await clinician.gql(`{ ${aliases} }`);
    assert.ok(errorCodes(response).length > 0 && errorCodes(response).every((code) => code === 'GRAPHQL_VALIDATION_FAILED'));
    assert.ok(response.body.errors!.some((error) => /alias/i.test(error.message)), JSON.stringify(response.body.errors));
    assert.equal(response.body.data, undefined);
  });

  it('rejects a query over the cost limit', async () => {
    const wide = Array.from({ length: 15 }, (_, i) => `p${i}: patients(first: 100) { edges { node { id cases { id observations { id code value } } } } }`).join(' ');
    const response = await clinician.gql(`{ ${wide} }`);
    assert.ok(response.body.errors!.some((error) => /cost/i.test(error.message)), JSON.stringify(response.body.errors));
    assert.ok(errorCodes(response).every((code) => code === 'GRAPHQL_VALIDATION_FAILED'));
    assert.equal(response.body.data, undefined);
  });

  it('rejects a document with too many tokens as a parse failure, and too many directives', async () => {
    const long = `{ me { ${Array.from({ length: 3000 }, () => 'subject').join(' ')} } }`;
    assert.deepEqual(errorCodes(await clinician.gql(long)), ['GRAPHQL_PARSE_FAILED']);
    const directives = `{ me { subject ${Array.from({ length: 50 }, () => '@include(if: true)').join(' ')} } }`;
    const response = await clinician.gql(directives);
    assert.ok(response.body.errors!.some((error) => /directive/i.test(error.message)));
  });

  it('refuses a batching bomb without running any of it, and keeps answering others meanwhile', async () => {
    const read = { query: 'query($id: ID!) { patient(id: $id) { id cases { id } } }', variables: { id: patientId } };
    let response: Awaited<ReturnType<typeof raw>> | undefined;
    const sql = await queriesDuring(async () => {
      const [bombed, normal] = await Promise.all([raw(JSON.stringify(Array.from({ length: 500 }, () => read))), clinician.gql(read.query, read.variables)]);
      response = bombed;
      assert.equal(normal.body.errors, undefined);
    });
    assert.equal(response!.status, 400);
    assert.deepEqual(response!.body.errors!.map((error) => error.extensions?.code), ['BAD_REQUEST'], JSON.stringify(response!.body));
    assert.ok(sql < 15, `the batch ran no resolver (${sql} statements, the normal read's included)`);
  });

  it('refuses a body over the size limit with PAYLOAD_TOO_LARGE, and invalid JSON with BAD_REQUEST', async () => {
    const big = await raw(JSON.stringify({ query: '{ me { subject } }', variables: { padding: 'x'.repeat(70_000) } }));
    assert.equal(big.status, 413);
    assert.deepEqual(big.body.errors!.map((error) => error.extensions?.code), ['PAYLOAD_TOO_LARGE']);
    const broken = await raw('{"query": "{ me { subject } }"');
    assert.equal(broken.status, 400);
    assert.deepEqual(broken.body.errors!.map((error) => error.extensions?.code), ['BAD_REQUEST']);
    assert.doesNotMatch(JSON.stringify(broken.body), /FST_|at .*\.js/);
  });

  it('reads the rest of a refused body before closing, so a client still sending it gets the coded answer, not a broken pipe', async () => {
    // A raw socket sending a 3 MB body without waiting for an early answer: closing with the rest
    // unread made the kernel reset the connection (EPIPE, no answer).
    const size = 3_000_000;
    const { hostname, port } = new URL(api.url);
    for (let attempt = 0; attempt < 5; attempt++) {
      const answer = await new Promise<{ writeError: string | undefined; text: string }>((resolve) => {
        const socket = connect(Number(port), hostname);
        const chunks: Buffer[] = [];
        let writeError: string | undefined;
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('error', (error: NodeJS.ErrnoException) => (writeError ??= error.code));
        socket.on('close', () => resolve({ writeError, text: Buffer.concat(chunks).toString('utf8') }));
        socket.write(`POST /graphql HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`);
        // In 64 KiB pieces, letting the server (in this process) run in between, so it answers mid-body.
        const piece = Buffer.alloc(64 * 1024, ' ');
        const send = (left: number): void => {
          if (left <= 0 || socket.destroyed) return void socket.end();
          socket.write(piece.subarray(0, Math.min(left, piece.length)), () => setImmediate(send, left - piece.length));
        };
        send(size);
      });
      assert.equal(answer.writeError, undefined);
      assert.match(answer.text, /^HTTP\/1\.1 413 /);
      assert.match(answer.text, /"code":"PAYLOAD_TOO_LARGE"/);
    }
  });

  it('stops a request that runs past the timeout with TIMEOUT, and recovers', async () => {
    // Block inserts into the audit log for a while: the next request cannot append its reads, so it overruns.
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const held = api.server.db.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`LOCK TABLE "AuditEvent" IN SHARE MODE`;
        locked();
        // Short steps: PostgreSQL ends a transaction idle for as long as the request timeout.
        for (let step = 0; step < 5; step++) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          await tx.$queryRaw`SELECT 1 AS still_holding`;
        }
      },
      { maxWait: 10_000, timeout: 10_000 },
    );
    // Wait for the lock itself, not for a guess at how long taking it takes (a pool connection may be slow to open).
    await lockTaken;
    const slow = await clinician.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }).finally(() => held);
    assert.equal(slow.status, 503);
    assert.deepEqual(errorCodes(slow), ['TIMEOUT']);
    assert.equal(slow.body.data, undefined);
    const after = await clinician.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId });
    assert.equal(after.body.errors, undefined);
  });

  it('answers unknown paths with a coded error', async () => {
    const response = await fetch(new URL('/admin', api.url));
    assert.equal(response.status, 404);
    assert.deepEqual(((await response.json()) as any).errors[0].extensions.code, 'NOT_FOUND');
  });
});
