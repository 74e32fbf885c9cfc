import type { ApolloServerPlugin } from '@apollo/server';
import { ErrorCode } from '../../errors/errors.ts';
import type { RequestContext } from '../context.ts';

/**
 * Appends what a request read (and any denial) to the audit log after the
 * operation ran and before the response leaves. If the audit log cannot take
 * it, the response is replaced by an error: data is never returned unaudited
 * (fail closed).
 */
export function auditFlushPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operationName }) {
          if (operationName) contextValue.trail.meta.operationName = operationName;
        },
        async willSendResponse({ contextValue, response }) {
          if (contextValue.trail.pending === 0) return;
          try {
            await contextValue.trail.flush();
          } catch {
            contextValue.log.error('audit log unavailable: response withheld');
            response.http.status = 503;
            response.body = {
              kind: 'single',
              singleResult: {
                errors: [
                  {
                    message: 'The audit log is unavailable, so the data is withheld. Try again shortly.',
                    extensions: { code: ErrorCode.UNAVAILABLE },
                  },
                ],
              },
            };
          }
        },
      };
    },
  };
}
