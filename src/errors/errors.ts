import { GraphQLError } from 'graphql';

/**
 * The one list of error codes clients see in `extensions.code`. Apollo's own
 * codes (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT for
 * variable coercion, ...) pass through unchanged.
 */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  CONSENT_REQUIRED: 'CONSENT_REQUIRED',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'UNAVAILABLE',
  TIMEOUT: 'TIMEOUT',
  BAD_REQUEST: 'BAD_REQUEST',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNTRUSTED_DOCUMENT: 'UNTRUSTED_DOCUMENT',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Extra machine-readable facts a client can act on (field names, limits). */
export type ErrorDetails = Record<string, unknown>;

/** A GraphQL error with a code from the list above. */
export function codedError(code: ErrorCode, message: string, details: ErrorDetails = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...details, code } });
}

export const badInput = (message: string, details?: ErrorDetails) =>
  codedError(ErrorCode.BAD_USER_INPUT, message, details);
export const notFound = (message: string, details?: ErrorDetails) => codedError(ErrorCode.NOT_FOUND, message, details);
export const conflict = (message: string, details?: ErrorDetails) => codedError(ErrorCode.CONFLICT, message, details);

/** The code of any error, or undefined when it carries none. */
export function errorCode(error: unknown): string | undefined {
  if (error instanceof GraphQLError) {
    const code = error.extensions?.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** A GraphQL-over-HTTP error body for answers given outside GraphQL execution (HTTP errors, limits). */
export function errorBody(code: ErrorCode, message: string, details: ErrorDetails = {}) {
  return { errors: [{ message, extensions: { ...details, code } }] };
}
