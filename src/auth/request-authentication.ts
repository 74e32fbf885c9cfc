import type { FastifyRequest } from 'fastify';
import type { GraphQLError } from 'graphql';
import type { AuditLog } from '../audit/audit-log.ts';
import { type AuditRequestMeta } from '../audit/audit-record.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import type { AuthConfig } from '../config/config.ts';
import { authenticate } from './authenticate.ts';
import type { Principal } from './principal.ts';
import type { TokenVerifier } from './token-verifier.ts';

/** The outcome of checking a request's token: who it is, or the error to answer with. */
export type Authentication = { principal: Principal; meta: AuditRequestMeta } | { error: GraphQLError; meta: AuditRequestMeta };

declare module 'fastify' {
  interface FastifyRequest {
    authentication?: Authentication;
  }
}

/**
 * A Fastify preHandler for the GraphQL route: verifies the bearer token once,
 * before rate limiting (so limits count per verified subject) and before
 * GraphQL runs; the request context then reads the result.
 */
export function authenticationHook(auth: AuthConfig, verifier: TokenVerifier, auditLog: AuditLog, describe: (request: FastifyRequest) => AuditRequestMeta) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.method === 'OPTIONS') return;
    const meta = describe(request);
    const header = (name: string) => {
      const value = request.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    try {
      const principal = await authenticate(
        { authorization: header('authorization'), purposeOfUse: header('x-purpose-of-use') },
        verifier,
        auth,
        (reason, subject) =>
          new AuditTrail(auditLog, { subject: subject ?? 'anonymous', roles: [], purposeOfUse: 'TREAT' }, meta).appendNow({
            action: 'auth.authenticate',
            outcome: 'DENIED',
            reason,
          }),
      );
      request.authentication = { principal, meta };
    } catch (error) {
      request.authentication = { error: error as GraphQLError, meta };
    }
  };
}
