/**
 * The read path's floor: a plain `node:http` server over `pg` answering the
 * read benchmark's patient detail from PostgreSQL in the same JSON shape as
 * clinigraph, with three queries (the patient, its cases with their
 * observations, their predictions) and nothing else: no GraphQL, no
 * authentication, no access check, no audit, no limits, no metrics. What the
 * database and HTTP cost on this machine; clinigraph's figures sit between it
 * and the Apollo baselines answering from memory.
 *
 * FLOOR_DATABASE_URL: clinigraph's database (the bench's read database).
 * Any POST is taken as the benchmark's query; its `variables.id` is the patient.
 */
import { createServer, type IncomingMessage } from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: 20 });

// Named statements: prepared once per connection, as clinigraph's are.
const patientStatement = {
  name: 'floor-patient',
  text: `SELECT id::text, mrn, "givenName", "familyName", "birthDate"::text AS "birthDate", sex::text FROM "Patient" WHERE id = $1::uuid`,
};
const casesStatement = {
  name: 'floor-cases',
  text: `SELECT c.id::text, c.title, c.status::text,
      (SELECT coalesce(json_agg(json_build_object('code', o.code, 'value', o.value, 'unit', o.unit) ORDER BY o."observedAt", o.id), '[]')
       FROM "Observation" o WHERE o."caseId" = c.id) AS observations
    FROM "Case" c WHERE c."patientId" = $1::uuid ORDER BY c."openedAt" DESC, c.id`,
};
const predictionsStatement = {
  name: 'floor-predictions',
  text: `SELECT p."caseId"::text AS "caseId", p.output FROM "Prediction" p WHERE p."caseId" = ANY($1::uuid[]) ORDER BY p."createdAt" DESC, p.id`,
};

interface StoredOutput {
  label?: string;
  probabilities?: Record<string, number>;
}

/** The patient detail as clinigraph answers it, or null for an unknown patient. */
async function patientDetail(id: string): Promise<object | null> {
  const [patient] = (await pool.query({ ...patientStatement, values: [id] })).rows;
  if (!patient) return null;
  const cases = (await pool.query({ ...casesStatement, values: [id] })).rows as { id: string; title: string; status: string; observations: unknown[] }[];
  const predictions = (await pool.query({ ...predictionsStatement, values: [cases.map((c) => c.id)] })).rows as { caseId: string; output: StoredOutput }[];
  return {
    ...patient,
    cases: cases.map((c) => ({
      ...c,
      predictions: predictions
        .filter((p) => p.caseId === c.id)
        .map(({ output }) => ({
          label: output.label ?? null,
          probabilities: output.probabilities ? Object.entries(output.probabilities).map(([label, probability]) => ({ label, probability })) : null,
        })),
    })),
  };
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer((request, response) => {
  bodyOf(request)
    .then(async (body) => {
      const { variables } = JSON.parse(body) as { variables: { id: string } };
      const json = JSON.stringify({ data: { patient: await patientDetail(variables.id) } });
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) }).end(json);
    })
    .catch((error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(error.message));
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`floor (node:http + pg) GraphQL API: http://127.0.0.1:${port}/graphql`);
});

const stop = () => server.close(() => void pool.end().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
