import path from 'node:path';
import { after } from 'node:test';
import pg from 'pg';
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
  /** Runs SQL as the tables' owner (in production mode on PostgreSQL the server's own role is not the owner). */
  asOwner(sql: string): Promise<void>;
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
  // Production mode refuses a server role that owns the audit tables: the server logs in as a role of its own.
  const roles = env.CLINIGRAPH_MODE === 'production' && database.databaseUrl ? await twoRoles(database.databaseUrl) : {};
  const config = loadConfig({ ...(await testServerEnv(database)), DATABASE_POOL_SIZE: '5', ...roles, ...env });
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
    async asOwner(sql) {
      if (!database.databaseUrl) return void (await server.db.prisma.$executeRawUnsafe(sql));
      const owner = new pg.Client({ connectionString: database.databaseUrl });
      await owner.connect();
      await owner.query(sql).finally(() => owner.end());
    },
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
    // Production mode requires one; tests read metrics from the server's registry, or set their own token.
    METRICS_TOKEN: 'test-metrics-token',
    AUDIT_SIGNING_KEY: testAuditKeys.signingKey,
    AUDIT_PUBLIC_KEY: testAuditKeys.publicKey,
    AUDIT_CHECKPOINT_DIR: path.join(database.dataDir, 'audit-checkpoints'),
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
  };
}

/** A PostgreSQL role for servers that must not own the tables; the test database's own (owner) URL migrates. */
export const testServerRole = 'clinigraph_test_server';

/** Settings for two roles on a test database: the server as testServerRole, migrations as the database's owner. */
export async function twoRoles(ownerUrl: string): Promise<Record<string, string>> {
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  try {
    // Roles belong to the whole server; test processes running at once may create it together.
    await owner.query(`DO $$ BEGIN CREATE ROLE ${testServerRole} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
  } finally {
    await owner.end();
  }
  const serverUrl = new URL(ownerUrl);
  serverUrl.username = testServerRole;
  return { DATABASE_URL: serverUrl.toString(), DATABASE_MIGRATION_URL: ownerUrl };
}

/** The audit log's checkpoint key of every test server of this process (the verifier key for `npm run audit:verify`). */
const testAuditSigningKey = generateSignerKey('clinigraph-test/audit');
export const testAuditKeys = { signingKey: testAuditSigningKey, publicKey: parseSignerKey(testAuditSigningKey).text };

/** The error codes of a response, in order. */
export function errorCodes(response: GraphQLResponse): string[] {
  return (response.body.errors ?? []).map((error) => String(error.extensions?.code));
}
