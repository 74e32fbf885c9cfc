import type { FastifyRequest } from 'fastify';
import type { AuditRequestMeta } from '../audit/audit-record.ts';
import { clientRequestId } from '../server/context.ts';

/** Audit metadata of a FHIR request: the interaction (method and route) in place of a GraphQL operation name. */
export function fhirRequestMeta(request: FastifyRequest): AuditRequestMeta {
  const userAgent = request.headers['user-agent'];
  return {
    requestId: request.id,
    clientRequestId: clientRequestId(request) ?? null,
    operationName: `FHIR ${request.method} ${request.url.split('?')[0]}`.slice(0, 200),
    queryHash: null,
    clientAddress: request.ip ?? null,
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 300) : null,
  };
}
