import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { errorBody, ErrorCode } from '../errors/errors.ts';

/**
 * Answers what fails before GraphQL runs (malformed JSON, a body over the
 * size limit, an unknown path) in the GraphQL-over-HTTP error shape with a
 * code, like every other error, and without internals.
 */
export function registerHttpErrorHandlers(http: FastifyInstance, log: Logger): void {
  http.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status === 413) {
      return reply.code(413).send(errorBody(ErrorCode.PAYLOAD_TOO_LARGE, 'The request body is larger than this server accepts (MAX_BODY_BYTES).'));
    }
    if (status === 429) return reply.code(429).send(error);
    if (status < 500) {
      const message = error.code?.startsWith('FST_ERR_CTP') ? 'The request body is not valid JSON or has an unsupported content type.' : 'The request is malformed.';
      return reply.code(status).send(errorBody(ErrorCode.BAD_REQUEST, message));
    }
    log.error({ requestId: request.id, errorType: error.name, code: error.code }, 'unexpected HTTP error');
    return reply.code(500).send(errorBody(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error.'));
  });
  http.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(ErrorCode.NOT_FOUND, `Nothing at ${request.method} ${request.url.split('?')[0]}: the API is at /graphql.`)),
  );
}
