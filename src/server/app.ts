import { randomUUID } from 'node:crypto';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { makeExecutableSchema } from '@graphql-tools/schema';
import rateLimit from '@fastify/rate-limit';
import helmet from 'helmet';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteHandlerMethod } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AuditLedger } from '../audit/audit-ledger.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { runAsSystem, type ScopeDeps } from '../access/scope.ts';
import { ModelRepository } from '../models/model.repository.ts';
import { AuditSequencer } from '../audit/sequencer.ts';
import { loadSigningKey, queryHashKey } from '../audit/signing-key.ts';
import { TrainingRunner } from '../models/training-runner.ts';
import { ModelServer } from '../predictions/model-server.ts';
import { authenticationHook, refusalAuditHook } from '../auth/request-authentication.ts';
import { cachingTokenVerifier } from '../auth/token-cache.ts';
import { createTokenVerifier, type TokenVerifier } from '../auth/token-verifier.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { errorBody, ErrorCode } from '../errors/errors.ts';
import type { BulkExportRunner } from '../fhir/bulk-export.ts';
import { registerFhirRoutes } from '../fhir/fhir.plugin.ts';
import { fhirRequestMeta } from '../fhir/fhir-request-meta.ts';
import { consoleContentSecurityPolicy, graphqlPageRedirect, registerConsole } from './console.ts';
import { createRequestContext, type RequestContext, requestMetaWith } from './context.ts';
import { registerHealthRoutes } from './health.ts';
import { registerHttpErrorHandlers } from './http-errors.ts';
import { Metrics } from './metrics.ts';
import { compiledExecutionGateway } from './compiled-execution.ts';
import { auditFlushPlugin } from './plugins/audit-flush.ts';
import { maskUnexpectedErrors, unavailableStatusPlugin } from './plugins/error-masking.ts';
import { legacyJsonStatusPlugin } from './plugins/legacy-json-status.ts';
import { wellFormedTextPlugin } from './plugins/well-formed-text.ts';
import { noIntrospection } from './introspection.ts';
import { requestObserverPlugin } from './plugins/request-observer.ts';
import { resolvers, typeDefs } from './schema.ts';
import { loadTrustedDocuments, trustedDocumentsHook } from './trusted-documents.ts';
import { ProductionChanges } from '../models/production-changes.ts';

export interface App {
  http: FastifyInstance;
  auditLog: AuditLog;
  /** The transparency log over the audit entries: its sequencer, checkpoints and proofs. */
  auditLedger: AuditLedger;
  metrics: Metrics;
  modelServer: ModelServer;
  trainingRunner: TrainingRunner;
  /** The FHIR bulk exports this process runs in the background. */
  fhirExports: BulkExportRunner;
  /** Starts listening; resolves with the GraphQL endpoint's URL. */
  listen(): Promise<string>;
  /** Stops accepting requests, finishes those in flight and their audit records, then returns. */
  close(): Promise<void>;
}

/** Wires HTTP (Fastify), GraphQL (Apollo Server), limits, authentication, audit, metrics and the probes around one database. */
export async function createApp(config: Config, db: Database, log: Logger): Promise<App> {
  const { limits } = config;
  const metrics = new Metrics();
  db.onQuery((event) => metrics.databaseQueryDuration.observe(event.durationMs / 1000));
  const http = Fastify({
    logger: false,
    trustProxy: config.trustProxy,
    bodyLimit: limits.maxBodyBytes,
    requestIdHeader: false,
    // Fastify's own answer while closing has no error code; refuseWhileClosing (below) answers instead.
    return503OnClosing: false,
    // The server's own id always: one a caller chose could name two actors' requests alike in the audit log
    // (the caller's is logged and audited beside it as clientRequestId).
    genReqId: () => randomUUID(),
  });
  http.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Any answer may carry patient data (GraphQL, exports, errors naming records): no browser or proxy may keep a copy.
    reply.header('cache-control', 'no-store');
  });
  let closing = false;
  http.addHook('onRequest', async (_request, reply) => {
    if (closing) return refuseWhileClosing(reply);
  });
  registerHttpErrorHandlers(http, log);
  // The console and GraphiQL are bundled and served from here, so one strict policy fits every answer.
  // Built once: @fastify/helmet built helmet's middleware (parsing the policy) again for every request.
  const securityHeaders = helmet({ contentSecurityPolicy: consoleContentSecurityPolicy(config) });
  http.addHook('onRequest', (request, reply, done) => securityHeaders(request.raw, reply.raw, (error) => done(error as Error | undefined)));
  const redis = config.redisUrl ? sharedRateLimitStore(config.redisUrl, log) : undefined;
  // Rate limits protect the service; an outage of their store must not take it down, so requests then go unlimited.
  await http.register(rateLimit, { global: false, ...(redis ? { redis, nameSpace: 'clinigraph-rate:', skipOnError: true } : {}) });

  const signer = await loadSigningKey(config.audit.signingKey, config.dataDir);
  const sequencer = new AuditSequencer(
    db.adapterFactory,
    config.databaseUrl,
    {
      signer,
      batchSize: config.audit.batchSize,
      intervalMs: config.audit.integrationIntervalMs,
      checkpointDir: config.audit.checkpointDir,
      onBatch: (lagsMs) => {
        for (const lag of lagsMs) metrics.auditIntegrationLag.observe(lag / 1000);
      },
    },
    log,
  );
  const auditLedger = new AuditLedger(db.prisma, sequencer, signer);
  const auditLog = new AuditLog(db.prisma, log, (records, ms) => {
    metrics.auditAppendDuration.observe(ms / 1000);
    metrics.auditRecords.inc(records);
    sequencer.noteAppended(records);
  });
  const verifier = await tokenVerifier(config);
  const scopeDeps: ScopeDeps = { db, config, auditLog, log };
  // Serving reads the registry (no patient data) in scopes of the server's own.
  const modelServer = new ModelServer(
    (work) => runAsSystem(scopeDeps, 'clinigraph', ['data_scientist'], (scope) => work(new ModelRepository(scope))),
    config.predictions,
    metrics,
    log,
  );
  const trainingRunner = new TrainingRunner(scopeDeps);
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth },
    costLimit: { maxCost: limits.maxCost },
    maxAliases: { n: limits.maxAliases },
    // graphql-js enforces the token limit itself (parseOptions below) and reports
    // it, like any syntax error, as GRAPHQL_PARSE_FAILED; armor's version would not.
    maxTokens: { enabled: false },
    maxDirectives: { n: limits.maxDirectives },
    // maskUnexpectedErrors hides suggestions instead, on every path (armor's misses enum values and variables).
    blockFieldSuggestion: { enabled: false },
  }).protect();
  const apollo = new ApolloServer<RequestContext>({
    // Operations run on plans compiled per document (graphql-jit), through Apollo's executor interface.
    gateway: compiledExecutionGateway(makeExecutableSchema({ typeDefs, resolvers }), typeDefs),
    // Apollo's own switch also refuses `__type(name:) { name }`; noIntrospection (below) refuses the rest.
    introspection: true,
    includeStacktraceInErrorResponses: false,
    allowBatchedHttpRequests: false,
    parseOptions: { maxTokens: limits.maxTokens },
    csrfPrevention: true,
    // Trusted-documents mode must not let clients register new documents.
    ...(config.trustedDocuments ? { persistedQueries: false as const } : {}),
    validationRules: [...(config.introspection ? [] : [noIntrospection]), ...armor.validationRules],
    formatError: maskUnexpectedErrors(log, (code) => metrics.errors.inc({ code }), config.production),
    plugins: [
      // graphql-armor's typings name Apollo's CommonJS build; the plugins are the same objects.
      ...(armor.plugins as unknown as ApolloServerPlugin<RequestContext>[]),
      fastifyApolloDrainPlugin(http),
      ApolloServerPluginCacheControlDisabled(),
      // Browsers get the bundled GraphiQL (graphqlPageRedirect), never Apollo's CDN-loaded page.
      ApolloServerPluginLandingPageDisabled(),
      wellFormedTextPlugin(),
      auditFlushPlugin(),
      legacyJsonStatusPlugin(),
      unavailableStatusPlugin(),
      requestObserverPlugin(metrics, log),
    ],
  });
  await apollo.start();

  registerHealthRoutes(http, db, modelServer, { ledger: auditLedger, stallSeconds: config.audit.stallSeconds });
  metrics.watchAuditLedger(() => auditLedger.backlog());
  await registerConsole(http, config, log);
  metrics.register(http, config.metricsToken);
  const deps = { ...scopeDeps, auditLedger, modelServer, trainingRunner, productionChanges: new ProductionChanges() };
  const trusted = config.trustedDocuments ? trustedDocumentsHook(await loadTrustedDocuments(config.trustedDocuments)) : undefined;
  const toGraphiql = graphqlPageRedirect(config);
  const isAuthenticated = (request: FastifyRequest) => request.authentication !== undefined && 'principal' in request.authentication;
  // Counted per verified subject, or per client address for requests without a valid token (GraphQL and FHIR alike).
  const limitRate = http.rateLimit({
    timeWindow: 60_000,
    max: (request) => (isAuthenticated(request) ? limits.ratePerMinute : limits.anonymousRatePerMinute),
    keyGenerator: (request) => {
      const auth = request.authentication;
      return auth && 'principal' in auth ? `sub:${auth.principal.subject}` : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      ...errorBody(ErrorCode.RATE_LIMITED, `Too many requests: at most ${context.max} a minute. Retry after ${context.after}.`, {
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
    }),
  });
  http.route({
    method: ['GET', 'POST'],
    url: '/graphql',
    preHandler: [
      ...(toGraphiql ? [toGraphiql] : []),
      ...(trusted ? [trusted] : []),
      authenticationHook(config.auth, verifier, requestMetaWith(queryHashKey(signer))),
      limitRate,
      refusalAuditHook(auditLog),
    ],
    handler: withTimeout(
      fastifyApolloHandler(apollo, { context: (request) => createRequestContext(deps, request) }) as RouteHandlerMethod,
      limits.requestTimeoutMs,
    ),
  });

  const fhirExports = await registerFhirRoutes(http, deps, [authenticationHook(config.auth, verifier, fhirRequestMeta), limitRate, refusalAuditHook(auditLog)]);

  return {
    http,
    auditLog,
    auditLedger,
    metrics,
    modelServer,
    trainingRunner,
    fhirExports,
    async listen() {
      await http.listen({ port: config.port, host: config.host });
      sequencer.start();
      const address = http.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}/graphql`;
    },
    async close() {
      closing = true;
      // New requests are refused from here; queued predictions and in-flight requests finish.
      // Node closes only the keep-alive connections idle at this moment; the sweep closes the
      // others as their last response goes out, instead of after the 72 s keep-alive timeout.
      const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
      await Promise.all([http.close(), modelServer.drain()]).finally(() => clearInterval(sweep));
      await trainingRunner.idle();
      await fhirExports.close();
      await auditLog.drain();
      // The last entries are integrated and signed before the sequencer's lock is given up.
      await sequencer.stop();
      // quit() waits for Redis; while Redis is away it fails, and only disconnect() stops the reconnecting.
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
}

/** The token verifier, behind the verified-token cache unless AUTH_TOKEN_CACHE_ENTRIES=0. */
async function tokenVerifier(config: Config): Promise<TokenVerifier> {
  const verifier = await createTokenVerifier(config.auth, config.dataDir);
  const { entries, maxSeconds } = config.auth.tokenCache;
  return entries > 0 ? cachingTokenVerifier(verifier, { entries, maxSeconds, maxTokenAgeSeconds: config.auth.maxTokenAgeSeconds }) : verifier;
}

/**
 * The Redis connection that shares rate limits between replicas. While Redis
 * is away, a limit check fails at once instead of waiting in ioredis's queue,
 * and the outage is logged once, not once a request.
 */
function sharedRateLimitStore(url: string, log: Logger): Redis {
  const redis = new Redis(url, { connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  let reported = false;
  redis.on('error', (error: Error) => {
    if (!reported) log.warn({ errorType: error.name, message: error.message }, 'rate-limit store (Redis) unreachable: requests are not rate limited until it is back');
    reported = true;
  });
  redis.on('ready', () => {
    if (reported) log.info('rate-limit store (Redis) reachable again');
    reported = false;
  });
  return redis;
}

/**
 * Answers a request that arrives on an open connection after shutdown began
 * (new connections are no longer accepted): UNAVAILABLE, HTTP 503, and the
 * connection closed, so the client retries on another replica.
 */
function refuseWhileClosing(reply: FastifyReply): FastifyReply {
  return reply
    .code(503)
    .header('connection', 'close')
    .header('retry-after', '1')
    .send(errorBody(ErrorCode.UNAVAILABLE, 'This server is shutting down. Retry: another replica (or this one, restarted) will answer.'));
}

const timedOut = Symbol('timed out');

/**
 * Answers TIMEOUT (HTTP 503) when a request runs longer than the limit.
 * PostgreSQL ends statements running as long (statement_timeout), so
 * abandoned work does not pile up; a write may still have committed just
 * before, which the message says.
 */
function withTimeout(handler: RouteHandlerMethod, ms: number): RouteHandlerMethod {
  return async function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof timedOut>((resolve) => (timer = setTimeout(resolve, ms, timedOut)));
    const result = await Promise.race([handler.call(this, request, reply), deadline]);
    clearTimeout(timer);
    if (result !== timedOut) return result;
    return reply
      .code(503)
      .send(errorBody(ErrorCode.TIMEOUT, `No answer within ${ms} ms. A change the request made may still have been saved: check before retrying.`));
  };
}
