import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import type { RequestContext } from '../context.ts';
import type { Metrics } from '../metrics.ts';

/**
 * One log line and one latency observation per GraphQL request: request id,
 * operation name and type, duration, error codes. Never variables or results,
 * so no patient data reaches the logs.
 */
export function requestObserverPlugin(metrics: Metrics, log: Logger): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      let operationType = 'unknown';
      return {
        async didResolveOperation({ operation }) {
          operationType = operation?.operation ?? 'unknown';
        },
        async willSendResponse({ response, operationName, errors }) {
          const seconds = (performance.now() - started) / 1000;
          const codes = (errors ?? []).map((error) => String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
          const outcome = codes.length === 0 ? 'ok' : 'error';
          metrics.requestDuration.observe({ operation: metrics.operationLabel(operationName), type: operationType, outcome }, seconds);
          (contextValue?.log ?? log).info(
            { operation: operationName ?? null, type: operationType, durationMs: Math.round(seconds * 1000), status: response.http.status ?? 200, errorCodes: codes },
            'graphql request',
          );
        },
      };
    },
  };
}
