import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.ts';
import { createTokenVerifier } from '../auth/token-verifier.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { createRequestContext, type RequestContext } from './context.ts';
import { registerHealthRoutes } from './health.ts';
import { auditFlushPlugin } from './plugins/audit-flush.ts';
import { maskUnexpectedErrors } from './plugins/error-masking.ts';
import { resolvers, typeDefs } from './schema.ts';

export interface App {
  http: FastifyInstance;
  auditLog: AuditLog;
  /** Starts listening; resolves with the GraphQL endpoint's URL. */
  listen(): Promise<string>;
  /** Stops accepting requests, finishes those in flight and their audit records, then returns. */
  close(): Promise<void>;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** Wires HTTP (Fastify), GraphQL (Apollo Server), authentication, audit and the probes around one database. */
export async function createApp(config: Config, db: Database, log: Logger): Promise<App> {
  const http = Fastify({
    logger: false,
    trustProxy: config.trustProxy,
    requestIdHeader: false,
    // A caller's own request id is kept when it is safe to echo into logs.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
  });
  http.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const auditLog = new AuditLog(db.prisma, log);
  const verifier = await createTokenVerifier(config.auth, config.dataDir);
  const apollo = new ApolloServer<RequestContext>({
    typeDefs,
    resolvers,
    includeStacktraceInErrorResponses: false,
    formatError: maskUnexpectedErrors(log),
    plugins: [fastifyApolloDrainPlugin(http), auditFlushPlugin()],
  });
  await apollo.start();

  registerHealthRoutes(http, db);
  const deps = { config, db, auditLog, verifier, log };
  await http.register(fastifyApollo(apollo), {
    path: '/graphql',
    context: (request) => createRequestContext(deps, request),
  });

  return {
    http,
    auditLog,
    async listen() {
      await http.listen({ port: config.port, host: config.host });
      const address = http.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}/graphql`;
    },
    async close() {
      await http.close();
      await auditLog.drain();
    },
  };
}
