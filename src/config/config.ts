import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting of the server, read from the environment (and an optional
 * `.env` file) once at start and validated here, so a bad value stops the
 * process with a clear message instead of failing later. `.env.example`
 * documents each one.
 */
const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const list = z
  .string()
  .optional()
  .transform((value) => value?.split(',').map((item) => item.trim()).filter(Boolean) ?? []);

const settingsSchema = z.object({
  CLINIGRAPH_MODE: z.enum(['development', 'production']).optional(),
  NODE_ENV: z.string().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  TRUST_PROXY: booleanFlag.default(false),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  DATABASE_READ_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  DATABASE_MIGRATION_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  DATABASE_PREPARED_STATEMENTS: booleanFlag.default(true),
  MIGRATE_ON_START: booleanFlag.default(true),
  DEMO_DATA: booleanFlag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(100),

  AUTH_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  AUTH_PUBLIC_KEY: optionalText,
  AUTH_HMAC_SECRET: optionalText,
  AUTH_ALGORITHMS: list,
  AUTH_ISSUER: optionalText,
  AUTH_AUDIENCE: optionalText,
  AUTH_REQUIRED_TYP: optionalText,
  AUTH_MAX_TOKEN_AGE_SECONDS: z.coerce.number().int().min(1).optional(),
  AUTH_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  AUTH_TOKEN_CACHE_ENTRIES: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  AUTH_TOKEN_CACHE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  AUTH_ROLES_CLAIM: z.string().regex(/^[\w-]+(\.[\w-]+)*$/, 'must be a claim name or dotted path').default('roles'),
  AUTH_PURPOSE_CLAIM: z.string().regex(/^[\w-]+$/, 'must be a claim name').default('purpose_of_use'),
  BREAK_GLASS_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(60),

  MAX_QUERY_DEPTH: z.coerce.number().int().min(2).max(50).default(10),
  MAX_QUERY_COST: z.coerce.number().int().min(10).max(1_000_000).default(5000),
  MAX_ALIASES: z.coerce.number().int().min(0).max(1000).default(15),
  MAX_TOKENS: z.coerce.number().int().min(50).max(100_000).default(2000),
  MAX_DIRECTIVES: z.coerce.number().int().min(0).max(1000).default(20),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024).default(512 * 1024),
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  INTROSPECTION: booleanFlag.optional(),
  TRUSTED_DOCUMENTS: optionalText,
  METRICS_TOKEN: optionalText,
  PREDICT_MAX_BATCH: z.coerce.number().int().min(1).max(1024).default(32),
  PREDICT_MAX_WAIT_MS: z.coerce.number().min(0).max(5000).default(2),
  PREDICT_MAX_QUEUE: z.coerce.number().int().min(1).max(100_000).default(512),
  PREDICT_COHORT_MAX: z.coerce.number().int().min(1).max(1000).default(50),
  DEFAULT_MODELS: booleanFlag.default(true),
  AUDIT_READS: booleanFlag.default(true),
  AUDIT_SIGNING_KEY: optionalText,
  AUDIT_CHECKPOINT_DIR: optionalText,
  AUDIT_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  AUDIT_INTEGRATION_INTERVAL_MS: z.coerce.number().int().min(10).max(1000).default(250),
  AUDIT_STALL_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  FHIR_MRN_SYSTEM: optionalText,
  FHIR_MAX_BUNDLE_BYTES: z.coerce.number().int().min(1024).max(200 * 1024 * 1024).default(32 * 1024 * 1024),
  FHIR_IMPORT_TIMEOUT_MS: z.coerce.number().int().min(1000).max(30 * 60_000).default(120_000),
  FHIR_EXPORT_PSEUDONYM_KEY: optionalText.refine((key) => key === undefined || Buffer.byteLength(key) >= 32, 'must be at least 32 bytes'),
  FHIR_EXPORT_K: z.coerce.number().int().min(2).max(1000).default(5),
  FHIR_EXPORT_WORK_MS: z.coerce.number().int().min(1).max(10_000).default(10),
  FHIR_EXPORT_PERIOD_MS: z.coerce.number().int().min(2).max(60_000).default(100),
  FHIR_EXPORT_RETENTION_HOURS: z.coerce.number().int().min(1).max(24 * 366).default(24),
  CONSOLE_GRAPHIQL: booleanFlag.optional(),
  CONSOLE_OIDC_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  CONSOLE_OIDC_CLIENT_ID: optionalText,
  CONSOLE_OIDC_SCOPE: z.string().min(1).default('openid profile'),
});

export type Settings = z.infer<typeof settingsSchema>;

/** Where verification keys come from: an identity provider's JWKS, a fixed key, or (development only) a local key. */
export type KeySource =
  | { kind: 'jwks'; url: string }
  | { kind: 'public-key'; pem: string }
  | { kind: 'hmac'; secret: string }
  | { kind: 'development' };

export interface AuthConfig {
  keySource: KeySource;
  /** Explicit allow-list: jose would otherwise accept any algorithm that fits the key. */
  algorithms: string[];
  issuer: string;
  audience: string;
  requiredTyp: string | undefined;
  maxTokenAgeSeconds: number | undefined;
  clockToleranceSeconds: number;
  /** Claim (or dotted path, e.g. realm_access.roles) that carries the roles. */
  rolesClaim: string;
  purposeClaim: string;
  /** Verified tokens kept until their expiry (entries 0: verify every request), at most maxSeconds each. */
  tokenCache: { entries: number; maxSeconds: number };
}

export interface Config {
  /** Production mode: strict security settings; see README "Production mode". */
  production: boolean;
  /** Settings that are allowed but deserve a line in the start-up log. */
  warnings: string[];
  port: number;
  host: string;
  trustProxy: boolean;
  dataDir: string;
  /** PostgreSQL URL; undefined means the embedded database under dataDir. */
  databaseUrl: string | undefined;
  /** A read replica of DATABASE_URL for read traffic that tolerates replication lag. */
  databaseReadUrl: string | undefined;
  databasePoolSize: number;
  /** Prepare each distinct statement once per connection (off behind a pooler that cannot keep them, e.g. PgBouncer < 1.21 in transaction mode). */
  databasePreparedStatements: boolean;
  migrateOnStart: boolean;
  /** Load the fictitious demo patients on first start of an empty database. */
  demoData: boolean;
  logLevel: Settings['LOG_LEVEL'];
  maxPageSize: number;
  auth: AuthConfig;
  breakGlassMinutes: number;
  limits: {
    maxDepth: number;
    maxCost: number;
    maxAliases: number;
    maxTokens: number;
    maxDirectives: number;
    maxBodyBytes: number;
    requestTimeoutMs: number;
    /** Requests per minute per token subject. */
    ratePerMinute: number;
    /** Requests per minute per client address, for requests without a valid token. */
    anonymousRatePerMinute: number;
  };
  /** Shares rate-limit counters across replicas when set. */
  redisUrl: string | undefined;
  introspection: boolean;
  /** Path of a persisted-operation manifest: only those operations run. */
  trustedDocuments: string | undefined;
  /** When set, /metrics asks for this bearer token; production requires it. */
  metricsToken: string | undefined;
  predictions: {
    /** Most predictions in one tensor batch (1: batching off). */
    maxBatch: number;
    maxWaitMs: number;
    /** Most predictions waiting per model version before new ones get UNAVAILABLE. */
    maxQueue: number;
    /** Most cases in one predictCohort call. */
    cohortMax: number;
  };
  /** Install the shipped default models into an empty registry at start. */
  defaultModels: boolean;
  /** Record reads in the audit log (only benchmarks turn this off; production refuses to). */
  auditReads: boolean;
  /**
   * PostgreSQL URL of the role that owns the tables and runs migrations;
   * DATABASE_URL (the server's own role) when unset.
   */
  databaseMigrationUrl: string | undefined;
  audit: AuditConfig;
  console: ConsoleConfig;
  fhir: {
    /** Identifier system whose value is the MRN (besides identifiers typed MR). */
    mrnSystem: string | undefined;
    /** Largest Bundle POST /fhir/R4 accepts. */
    maxBundleBytes: number;
    /** How long one transaction Bundle may hold its database transaction. */
    importTimeoutMs: number;
    /** Secret of the keyed pseudonyms and date shifts of de-identified exports (unset: such exports are refused). */
    pseudonymKey: string | undefined;
    /** Smallest group of patients sharing quasi-identifiers that a de-identified export keeps. */
    exportK: number;
    /** The duty cycle of bulk exports beside interactive requests: at most workMs of every periodMs. */
    exportPacing: { workMs: number; periodMs: number };
    /** How long a completed export's files are kept (then deleted in the background, and the export answers 410). */
    exportRetentionMs: number;
  };
}

export interface AuditConfig {
  /** Ed25519 signer key of the checkpoints (signed-note text); undefined: a development key in DATA_DIR. */
  signingKey: string | undefined;
  /** Where every checkpoint is appended outside the database (the witness file's folder). */
  checkpointDir: string;
  batchSize: number;
  integrationIntervalMs: number;
  /** Entries waiting this long with no checkpoint signed for as long: /readyz reports the ledger degraded. */
  stallSeconds: number;
}

/** The web console at /console/: how people sign in to it, and whether the GraphiQL explorer is served. */
export interface ConsoleConfig {
  /** Serve GraphiQL at /console/graphiql/ (development by default; production only when turned on). */
  graphiql: boolean;
  /** The sign-in page that mints development tokens (development mode with the development key only). */
  developmentSignIn: boolean;
  /** OpenID Connect authorization code + PKCE against this provider; undefined without one. */
  oidc: { issuer: string; clientId: string; scope: string } | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Development tokens (npm run token) carry these unless AUTH_ISSUER / AUTH_AUDIENCE say otherwise. */
export const developmentIssuer = 'clinigraph-dev';
export const developmentAudience = 'clinigraph';
const minimumHmacSecretBytes = 32;

/**
 * Validates the environment and returns the configuration.
 * @param env the variables to read (process.env by default; tests pass their own)
 * @throws ConfigError naming every bad setting
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    fail(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const s = parsed.data;
  // The explicit mode decides; unset, NODE_ENV=production is enough to turn production on.
  const production = s.CLINIGRAPH_MODE === 'production' || (s.CLINIGRAPH_MODE === undefined && s.NODE_ENV === 'production');
  const warnings =
    s.CLINIGRAPH_MODE === 'development' && s.NODE_ENV === 'production'
      ? ['CLINIGRAPH_MODE=development overrides NODE_ENV=production: development key, introspection and demo data are allowed']
      : [];
  const auth = authConfig(s, production);
  if (s.DATABASE_READ_URL && !s.DATABASE_URL) fail(['DATABASE_READ_URL: a read replica needs DATABASE_URL (the primary) as well']);
  if (production && !s.AUDIT_READS) fail(['AUDIT_READS: production mode records every read of patient data; it cannot be turned off']);
  // Metrics name operations, error rates and model versions: not for anyone who can reach the port.
  if (production && !s.METRICS_TOKEN) fail(['METRICS_TOKEN: required in production mode (the scraper sends it as a bearer token); /metrics is never open']);
  if (s.FHIR_EXPORT_WORK_MS >= s.FHIR_EXPORT_PERIOD_MS) fail(['FHIR_EXPORT_WORK_MS: must be less than FHIR_EXPORT_PERIOD_MS (exports work part of each period and rest the remainder)']);
  if (s.DATABASE_MIGRATION_URL && !s.DATABASE_URL) fail(['DATABASE_MIGRATION_URL: the migration role is for PostgreSQL; set DATABASE_URL (the server\'s role) as well']);
  if (production) {
    const audit = [
      ...(s.AUDIT_SIGNING_KEY ? [] : ['AUDIT_SIGNING_KEY: production mode signs audit checkpoints with a key of its own (npm run audit:keygen makes one)']),
      ...(s.AUDIT_CHECKPOINT_DIR ? [] : ['AUDIT_CHECKPOINT_DIR: production mode keeps a witness copy of every audit checkpoint outside the database']),
    ];
    if (audit.length) fail(audit);
  }
  return {
    production,
    warnings,
    port: s.PORT,
    host: s.HOST,
    trustProxy: s.TRUST_PROXY,
    dataDir: path.resolve(s.DATA_DIR),
    databaseUrl: s.DATABASE_URL,
    databaseReadUrl: s.DATABASE_READ_URL,
    databasePoolSize: s.DATABASE_POOL_SIZE,
    databasePreparedStatements: s.DATABASE_PREPARED_STATEMENTS,
    migrateOnStart: s.MIGRATE_ON_START,
    demoData: s.DEMO_DATA ?? !production,
    logLevel: s.LOG_LEVEL,
    maxPageSize: s.MAX_PAGE_SIZE,
    auth,
    breakGlassMinutes: s.BREAK_GLASS_MINUTES,
    limits: {
      maxDepth: s.MAX_QUERY_DEPTH,
      maxCost: s.MAX_QUERY_COST,
      maxAliases: s.MAX_ALIASES,
      maxTokens: s.MAX_TOKENS,
      maxDirectives: s.MAX_DIRECTIVES,
      maxBodyBytes: s.MAX_BODY_BYTES,
      requestTimeoutMs: s.REQUEST_TIMEOUT_MS,
      ratePerMinute: s.RATE_LIMIT_PER_MINUTE,
      anonymousRatePerMinute: s.RATE_LIMIT_ANONYMOUS_PER_MINUTE,
    },
    redisUrl: s.REDIS_URL,
    introspection: s.INTROSPECTION ?? !production,
    trustedDocuments: s.TRUSTED_DOCUMENTS ? path.resolve(s.TRUSTED_DOCUMENTS) : undefined,
    metricsToken: s.METRICS_TOKEN,
    predictions: {
      maxBatch: s.PREDICT_MAX_BATCH,
      maxWaitMs: s.PREDICT_MAX_WAIT_MS,
      maxQueue: s.PREDICT_MAX_QUEUE,
      cohortMax: s.PREDICT_COHORT_MAX,
    },
    defaultModels: s.DEFAULT_MODELS,
    auditReads: s.AUDIT_READS,
    databaseMigrationUrl: s.DATABASE_MIGRATION_URL,
    audit: {
      signingKey: s.AUDIT_SIGNING_KEY,
      checkpointDir: path.resolve(s.AUDIT_CHECKPOINT_DIR ?? path.join(s.DATA_DIR, 'audit-checkpoints')),
      batchSize: s.AUDIT_BATCH_SIZE,
      integrationIntervalMs: s.AUDIT_INTEGRATION_INTERVAL_MS,
      stallSeconds: s.AUDIT_STALL_SECONDS,
    },
    fhir: {
      mrnSystem: s.FHIR_MRN_SYSTEM,
      maxBundleBytes: s.FHIR_MAX_BUNDLE_BYTES,
      importTimeoutMs: s.FHIR_IMPORT_TIMEOUT_MS,
      pseudonymKey: s.FHIR_EXPORT_PSEUDONYM_KEY,
      exportK: s.FHIR_EXPORT_K,
      exportPacing: { workMs: s.FHIR_EXPORT_WORK_MS, periodMs: s.FHIR_EXPORT_PERIOD_MS },
      exportRetentionMs: s.FHIR_EXPORT_RETENTION_HOURS * 3_600_000,
    },
    console: consoleConfig(s, production, auth),
  };
}

function consoleConfig(s: Settings, production: boolean, auth: AuthConfig): ConsoleConfig {
  if (Boolean(s.CONSOLE_OIDC_ISSUER) !== Boolean(s.CONSOLE_OIDC_CLIENT_ID)) {
    fail(['CONSOLE_OIDC_ISSUER, CONSOLE_OIDC_CLIENT_ID: set both (console sign-in with your identity provider) or neither']);
  }
  return {
    graphiql: s.CONSOLE_GRAPHIQL ?? !production,
    developmentSignIn: !production && auth.keySource.kind === 'development',
    oidc:
      s.CONSOLE_OIDC_ISSUER && s.CONSOLE_OIDC_CLIENT_ID
        ? { issuer: s.CONSOLE_OIDC_ISSUER, clientId: s.CONSOLE_OIDC_CLIENT_ID, scope: s.CONSOLE_OIDC_SCOPE }
        : undefined,
  };
}

function fail(problems: string[]): never {
  throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
}

function authConfig(s: Settings, production: boolean): AuthConfig {
  const problems: string[] = [];
  const sources: KeySource[] = [];
  if (s.AUTH_JWKS_URL) sources.push({ kind: 'jwks', url: s.AUTH_JWKS_URL });
  if (s.AUTH_PUBLIC_KEY) sources.push({ kind: 'public-key', pem: s.AUTH_PUBLIC_KEY.replace(/\\n/g, '\n') });
  if (s.AUTH_HMAC_SECRET) sources.push({ kind: 'hmac', secret: s.AUTH_HMAC_SECRET });
  if (sources.length > 1) problems.push('AUTH_JWKS_URL, AUTH_PUBLIC_KEY, AUTH_HMAC_SECRET: set only one');
  const keySource = sources[0] ?? { kind: 'development' };

  if (keySource.kind === 'hmac' && Buffer.byteLength(keySource.secret) < minimumHmacSecretBytes) {
    problems.push(`AUTH_HMAC_SECRET: must be at least ${minimumHmacSecretBytes} bytes (RFC 7518 3.2)`);
  }
  const symmetric = keySource.kind === 'hmac';
  const algorithms = s.AUTH_ALGORITHMS.length ? s.AUTH_ALGORITHMS : symmetric ? ['HS256'] : ['RS256', 'PS256', 'ES256'];
  for (const algorithm of algorithms) {
    // Mixing families is how algorithm-confusion attacks work (e.g. HS256 signed with a public key).
    if (symmetric !== algorithm.startsWith('HS') || !/^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/.test(algorithm)) {
      problems.push(`AUTH_ALGORITHMS: ${algorithm} does not fit a ${symmetric ? 'shared secret' : 'public key'}`);
    }
  }
  if (production) {
    if (keySource.kind === 'development') {
      problems.push('AUTH_JWKS_URL / AUTH_PUBLIC_KEY / AUTH_HMAC_SECRET: production mode refuses the development key; configure your identity provider');
    }
    if (!s.AUTH_ISSUER) problems.push('AUTH_ISSUER: required in production mode');
    if (!s.AUTH_AUDIENCE) problems.push('AUTH_AUDIENCE: required in production mode');
  }
  if (problems.length) fail(problems);
  return {
    keySource,
    algorithms,
    issuer: s.AUTH_ISSUER ?? developmentIssuer,
    audience: s.AUTH_AUDIENCE ?? developmentAudience,
    requiredTyp: s.AUTH_REQUIRED_TYP,
    maxTokenAgeSeconds: s.AUTH_MAX_TOKEN_AGE_SECONDS,
    clockToleranceSeconds: s.AUTH_CLOCK_TOLERANCE_SECONDS,
    rolesClaim: s.AUTH_ROLES_CLAIM,
    purposeClaim: s.AUTH_PURPOSE_CLAIM,
    tokenCache: { entries: s.AUTH_TOKEN_CACHE_ENTRIES, maxSeconds: s.AUTH_TOKEN_CACHE_SECONDS },
  };
}
