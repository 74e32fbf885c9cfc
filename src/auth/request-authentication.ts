import type { FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import { type AuditRequestMeta } from '../audit/audit-record.ts';
import { AuditTrail } from '../access/audit-trail.ts';
import type { AuthConfig } from '../config/config.ts';
import { authenticate, type AuthenticationResult } from './authenticate.ts';
import type { TokenVerifier } from './token-verifier.ts';

/** The outcome of checking a request's token: who it is, or the error to answer with (and why, for a refused token). */
export type Authentication = { meta: AuditRequestMeta } & AuthenticationResult;

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
export function authenticationHook(auth: AuthConfig, verifier: TokenVerifier, describe: (request: FastifyRequest) => AuditRequestMeta) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.method === 'OPTIONS') return;
    const header = (name: string) => {
      const value = request.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    const result = await authenticate({ authorization: header('authorization'), purposeOfUse: header('x-purpose-of-use') }, verifier, auth);
    request.authentication = { meta: describe(request), ...result };
  };
}

/**
 * A Fastify preHandler, after rate limiting: records a refused token in the
 * audit log before the refusal is answered. Requests over the rate limit are
 * answered before it, so bad tokens cannot write faster than the limit.
 */
export function refusalAuditHook(auditLog: AuditLog) {
  return async (request: FastifyRequest): Promise<void> => {
    const authentication = request.authentication;
    if (!authentication || !('refusal' in authentication) || !authentication.refusal) return;
    const { reason, subject } = authentication.refusal;
    const anonymous = { subject: subject ?? 'anonymous', roles: [], purposeOfUse: null };
    // The refusal stands even if the audit log cannot take it; no data is served either way.
    await new AuditTrail(auditLog, anonymous, authentication.meta).appendNow({ action: 'auth.authenticate', outcome: 'DENIED', reason }).catch(() => {});
  };
}
