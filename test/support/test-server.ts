import path from 'node:path';
import { after } from 'node:test';
import { type Logger, pino } from 'pino';
import { generateSignerKey, parseSignerKey } from '../../src/audit/checkpoint.ts';
import { loadConfig } from '../../src/config/config.ts';
import { type RunningServer, startServer } from '../../src/server/start.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { type Identity, signToken, testAudience, testIssuer, testKeys } from './tokens.ts';

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[] };
}

type Gql = <T = Record<string, any>>(
  query: string,
  variables?: Record<string, unknown>,
  headers?: Record<string, string>,
) => Promise<GraphQLResponse<T>>;

export interface TestServer {
  url: string;
  server: RunningServer;
  /** The server's own database (for tests that look below the API). */
  database: TestDatabase;
  /** Posts one GraphQL operation over real HTTP with no token. */
  gql: Gql;
  /** A client that sends a freshly signed bearer token for this identity. */
  as(identity: Identity): { gql: Gql };
}

/**
 * Starts the real server (HTTP, GraphQL, database) on a free port, on a
 * database of its own, verifying tokens with a test key pair, and stops it
 * when the test file ends. Call it at the top level of a test file
 * (top-level await), so the stop runs after all tests.
 * @param env settings to set on top of the test defaults
 * @param log the server's logger (default: silent, or TEST_LOG_LEVEL)
 */
export async function startTestServer(env: Record<string, string> = {}, log?: Logger): Promise<TestServer> {
  const database = await createTestDatabase();
  const config = loadConfig({ ...(await testServerEnv(database)), DATABASE_POOL_SIZE: '5', ...env });
  const server = await startServer(config, log ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  after(async () => {
    await server.stop();
    await database.drop();
  });
  const gql: Gql = async (query, variables, headers = {}) => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  return {
    url: server.url,
    server,
    database,
    gql,
    as: (identity) => ({
      gql: async (query, variables, headers = {}) =>
        gql(query, variables, { authorization: `Bearer ${await signToken(identity)}`, ...headers }),
    }),
  };
}

/**
 * Settings of a test server (in process or a child process): its own
 * database, tokens from the test identity provider, a free port, no demo
 * data, and no default models (the prediction tests turn them on).
 */
export async function testServerEnv(database: Pick<TestDatabase, 'dataDir' | 'databaseUrl'>): Promise<Record<string, string>> {
  return {
    PORT: '0',
    DATA_DIR: database.dataDir,
    DEMO_DATA: 'false',
    DEFAULT_MODELS: 'false',
    AUTH_PUBLIC_KEY: (await testKeys()).publicKeyPem,
    AUTH_ALGORITHMS: 'ES256',
    AUTH_ISSUER: testIssuer,
    AUTH_AUDIENCE: testAudience,
    AUDIT_SIGNING_KEY: testAuditKeys.signingKey,
    AUDIT_PUBLIC_KEY: testAuditKeys.publicKey,
    AUDIT_CHECKPOINT_DIR: path.join(database.dataDir, 'audit-checkpoints'),
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
  };
}

/** The audit log's checkpoint key of every test server of this process (the verifier key for `npm run audit:verify`). */
const testAuditSigningKey = generateSignerKey('clinigraph-test/audit');
export const testAuditKeys = { signingKey: testAuditSigningKey, publicKey: parseSignerKey(testAuditSigningKey).text };

/** The error codes of a response, in order. */
export function errorCodes(response: GraphQLResponse): string[] {
  return (response.body.errors ?? []).map((error) => String(error.extensions?.code));
}
