import type { TypedDocumentString } from '../generated/graphql.ts';
import { currentSession } from '../auth/session.ts';

/** One error of a GraphQL response, as the server reports it (README "Errors"). */
export interface ApiErrorItem {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; argument?: string; [key: string]: unknown };
}

/** A refused or failed operation: every error the server gave, with its extensions.code. */
export class ApiError extends Error {
  constructor(readonly errors: ApiErrorItem[]) {
    super(errors.map((error) => `${error.extensions?.code ?? 'ERROR'}: ${error.message}`).join('\n'));
  }

  /** The errors that name this input field or argument (e.g. "input.mrn", "reason"). */
  forField(name: string): ApiErrorItem[] {
    return this.errors.filter((error) => [error.extensions?.field, error.extensions?.argument].includes(name));
  }
}

/**
 * A root field of an answer that only a refusal leaves null: the schema makes
 * every role-restricted field nullable so the rest of an answer survives, and
 * request() has already thrown that refusal, so null here is a broken answer.
 */
export function present<T>(value: T | null | undefined, field: string): T {
  if (value === null || value === undefined) throw new ApiError([{ message: `The server answered without ${field}.`, extensions: { code: 'BAD_RESPONSE' } }]);
  return value;
}

/**
 * Runs one operation of the console's own documents against /graphql with the
 * signed-in user's bearer token. The server decides everything; this only carries.
 */
export function request<Result, Variables>(
  document: TypedDocumentString<Result, Variables>,
  ...[variables]: Variables extends Record<string, never> ? [] : [Variables]
): Promise<Result> {
  return send(document, variables, currentSession()?.token);
}

/** The same with a token that is not (yet) the session's, e.g. to ask `me` before signing in with it. */
export function requestWithToken<Result>(token: string, document: TypedDocumentString<Result, Record<string, never>>): Promise<Result> {
  return send(document, undefined, token);
}

async function send<Result, Variables>(document: TypedDocumentString<Result, Variables>, variables: Variables | undefined, token: string | undefined): Promise<Result> {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    // documentId (its SHA-256, generated with it) lets a server in trusted-documents mode run it (README "Console").
    body: JSON.stringify({ query: document.toString(), variables: variables ?? {}, ...(document.__meta__?.hash ? { documentId: document.__meta__.hash } : {}) }),
  });
  const body = (await response.json().catch(() => ({
    errors: [{ message: `The server answered HTTP ${response.status} without a GraphQL body.`, extensions: { code: 'BAD_RESPONSE' } }],
  }))) as { data?: Result | null; errors?: ApiErrorItem[] };
  if (body.errors?.length) throw new ApiError(body.errors);
  if (!body.data) throw new ApiError([{ message: 'The server answered without data.', extensions: { code: 'BAD_RESPONSE' } }]);
  return body.data;
}
