import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { errorBody, ErrorCode } from '../errors/errors.ts';

/**
 * Answers what fails before GraphQL runs (malformed JSON, a body over the
 * size limit, an unknown path) in the GraphQL-over-HTTP error shape with a
 * code, like every other error, and without internals.
 */
export function registerHttpErrorHandlers(http: FastifyInstance, log: Logger): void {
  http.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    // Fastify closes the connection after refusing a body; read the rest first so the client gets the answer.
    if (status === 413 || error.code?.startsWith('FST_ERR_CTP')) await drainRefusedBody(request.raw);
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

/** How much of a refused body the server reads and drops before answering, and for how long at most. */
const lingerLimits = { bytes: 8 * 1024 * 1024, ms: 5_000 };

/**
 * Reads and drops what is left of a refused request's body before the answer
 * goes out, as nginx's lingering close does. The connection closes after the
 * answer, and closing a socket with unread data makes the kernel reset it: a
 * client still sending its body would get a broken pipe instead of the coded
 * error. Bodies declared larger than lingerLimits.bytes, or slower than
 * lingerLimits.ms, are not waited for.
 */
function drainRefusedBody(raw: IncomingMessage): Promise<void> {
  const declared = Number(raw.headers['content-length'] ?? 0);
  if (raw.complete || raw.destroyed || declared > lingerLimits.bytes) return Promise.resolve();
  return new Promise((resolve) => {
    let read = 0;
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > lingerLimits.bytes) done();
    };
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData).off('end', done).off('close', done);
      resolve();
    };
    const timer = setTimeout(done, lingerLimits.ms);
    raw.on('data', onData).once('end', done).once('close', done);
    raw.resume();
  });
}
