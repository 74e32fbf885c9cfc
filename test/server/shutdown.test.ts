import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { it } from 'node:test';
import { createPatient } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

const api = await startTestServer();
const patientId = await createPatient(api);

/** One HTTP/1.1 POST of a GraphQL operation, as raw bytes, on a kept-alive connection. */
async function request(query: string, variables: Record<string, unknown> = {}): Promise<string> {
  const body = JSON.stringify({ query, variables });
  const { host } = new URL(api.url);
  return [
    'POST /graphql HTTP/1.1',
    `Host: ${host}`,
    'Content-Type: application/json',
    `Authorization: Bearer ${await signToken(people.clinician)}`,
    'Connection: keep-alive',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

it('finishes a request in flight, answers one arriving on an open connection UNAVAILABLE (503), and accepts no new connection', async () => {
  // The in-flight read cannot append its audit records while this transaction blocks inserts into the audit log.
  let locked!: () => void;
  const lockTaken = new Promise<void>((resolve) => (locked = resolve));
  const held = api.server.db.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`LOCK TABLE "AuditEvent" IN SHARE MODE`;
    locked();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  });
  await lockTaken;

  const { hostname, port } = new URL(api.url);
  const socket = connect(Number(port), hostname);
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  // A request is in flight on a kept-alive connection when the shutdown begins; a second one follows on it after.
  socket.write(await request('query($id: ID!) { patient(id: $id) { id } }', { id: patientId }));
  const second = await request('{ me { subject } }');
  await new Promise((resolve) => setTimeout(resolve, 200));

  const stopping = api.server.stop();
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.write(second);
  const refused = await new Promise<string>((resolve) => {
    const late = connect(Number(port), hostname);
    late.once('connect', () => resolve('connected'));
    late.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  assert.equal(refused, 'ECONNREFUSED', 'no new connection once the shutdown began');

  await held;
  await closed;
  await stopping;
  const answers = received.split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 2, received);
  assert.match(answers[0]!, /^HTTP\/1\.1 200 /);
  assert.ok(answers[0]!.includes(`{"data":{"patient":{"id":"${patientId}"}}}`), 'the request in flight finished with its data');
  assert.match(answers[1]!, /^HTTP\/1\.1 503 /);
  assert.match(answers[1]!, /\r\nconnection: close\r\n/i);
  assert.match(answers[1]!, /\r\nretry-after: 1\r\n/i);
  assert.match(answers[1]!, /"extensions":\{"code":"UNAVAILABLE"\}/);
});
