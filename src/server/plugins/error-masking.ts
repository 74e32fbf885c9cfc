import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from 'pino';
import { ErrorCode } from '../../errors/errors.ts';

/**
 * Builds Apollo's formatError: coded errors reach the client as they are;
 * anything else (a bug, a database failure) is logged with its stack and
 * answered with a generic INTERNAL_SERVER_ERROR, so no stack trace, SQL or
 * value ever leaves the server. The log line carries no message text, which
 * for database errors can quote stored values.
 * @param count called with each error's code (metrics)
 */
export function maskUnexpectedErrors(log: Logger, count: (code: string) => void = () => {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    count(typeof code === 'string' ? code : ErrorCode.INTERNAL_SERVER_ERROR);
    if (typeof code === 'string' && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
      const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const cause = unwrapResolverError(error);
    log.error(
      {
        errorType: cause instanceof Error ? cause.name : typeof cause,
        prismaCode: (cause as { code?: unknown } | null)?.code,
        stack: cause instanceof Error ? cause.stack?.split('\n').slice(1).join('\n') : undefined,
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
