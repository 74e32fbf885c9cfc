import type { ApolloServerPlugin } from '@apollo/server';

/** Errors that mean the request never reached execution: the document or its variables were wrong. */
const requestErrorCodes = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT']);

/**
 * GraphQL over HTTP: a client that accepts only `application/json` (the legacy
 * media type) SHOULD get 200 for a well-formed request whose document does not
 * parse or validate or whose variables do not coerce; Apollo answers 400 for
 * every media type. Clients that accept `application/graphql-response+json`
 * (Apollo Client, graphql-http, urql...) and requests without an Accept header
 * keep the 400. HTTP-level refusals (CSRF, 405, 406, 415) never reach here.
 */
export function legacyJsonStatusPlugin<T extends object>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response, errors }) {
          if (response.http.status !== 400 || response.body.kind !== 'single' || 'data' in response.body.singleResult) return;
          const accept = request.http?.headers.get('accept')?.toLowerCase();
          if (!accept || !accept.includes('application/json') || accept.includes('application/graphql-response+json')) return;
          const codes = (errors ?? []).map((error) => error.extensions?.code);
          if (codes.length > 0 && codes.every((code) => typeof code === 'string' && requestErrorCodes.has(code))) response.http.status = 200;
        },
      };
    },
  };
}
