import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../../db/errors.ts';
import { ErrorCode } from '../../errors/errors.ts';

/**
 * graphql-js's hints ("Did you mean the enum value "FEMALE" or "MALE"?", or a
 * field, argument or type name), which it appends to validation and
 * variable-coercion messages alike; they reveal the schema that turning
 * introspection off hides.
 */
const suggestion = / ?Did you mean [^?]*\?/g;

/**
 * The frames of an error's stack without its message: the first line and,
 * for Prisma's many-line messages, every other line that is not a frame can
 * quote SQL, stored values or the text a client sent.
 */
function stackFrames(error: unknown): string | undefined {
  if (!(error instanceof Error) || !error.stack) return undefined;
  return error.stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n');
}

/**
 * Builds Apollo's formatError: coded errors reach the client as they are;
 * anything else (a bug, a database failure) is logged with its stack and
 * answered with a generic INTERNAL_SERVER_ERROR, so no stack trace, SQL or
 * value ever leaves the server. The log line carries no message text, which
 * for database errors can quote stored values.
 * @param count called with each error's code (metrics)
 * @param hideSuggestions drop graphql-js's "Did you mean ...?" hints from every message (production)
 */
export function maskUnexpectedErrors(log: Logger, count: (code: string) => void = () => {}, hideSuggestions = false) {
  const format = maskErrors(log, count);
  if (!hideSuggestions) return format;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const masked = format(formatted, error);
    return { ...masked, message: masked.message.replace(suggestion, '') };
  };
}

function maskErrors(log: Logger, count: (code: string) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    // Apollo's own refusals of a malformed request (a persisted-query hash that does not match its
    // query, an unsupported persisted-query version) carry an HTTP 4xx but no code: the client's mistake.
    const status = error instanceof GraphQLError ? (error.extensions.http as { status?: number } | undefined)?.status : undefined;
    if (error instanceof GraphQLError && error.extensions.code === undefined && !formatted.path && status !== undefined && status >= 400 && status < 500) {
      count(ErrorCode.BAD_REQUEST);
      return { message: formatted.message, extensions: { code: ErrorCode.BAD_REQUEST } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
      count(code);
      const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const cause = unwrapResolverError(error);
    if (isDatabaseUnavailable(cause)) {
      // Not a bug: the database is restarting or unreachable. Retryable, answered 503 (unavailableStatusPlugin).
      count(ErrorCode.UNAVAILABLE);
      log.warn(
        { errorType: cause instanceof Error ? cause.name : typeof cause, prismaCode: (cause as { code?: unknown }).code, path: formatted.path },
        'database unavailable while answering a GraphQL request',
      );
      return {
        message: 'The database is unavailable. Try again shortly.',
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: ErrorCode.UNAVAILABLE },
      };
    }
    count(ErrorCode.INTERNAL_SERVER_ERROR);
    log.error(
      {
        errorType: cause instanceof Error ? cause.name : typeof cause,
        prismaCode: (cause as { code?: unknown } | null)?.code,
        stack: stackFrames(cause),
        path: formatted.path,
      },
      'unexpected error while answering a GraphQL request',
    );
    return {
      message: 'Internal server error. The request id in the response header identifies it in the server log.',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/**
 * Answers HTTP 503 (with Retry-After) when an error of the response is
 * UNAVAILABLE, so clients, proxies and load balancers see a retryable failure
 * rather than a 200.
 */
export function unavailableStatusPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          if (!(response.body.singleResult.errors ?? []).some((error) => error.extensions?.code === ErrorCode.UNAVAILABLE)) return;
          response.http.status = 503;
          response.http.headers.set('retry-after', '1');
        },
      };
    },
  };
}
