import type { TestServer } from '../support/test-server.ts';
import { type Identity, signToken } from '../support/tokens.ts';

export interface FhirResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** A FHIR client of a test server: requests to /fhir/R4 as an identity (or with no token), bodies as application/fhir+json. */
export function fhirClient(api: TestServer, identity?: Identity, claims: Record<string, unknown> = {}) {
  const base = api.url.replace(/\/graphql$/, '/fhir/R4');
  return async (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<FhirResponse> => {
    const token = identity ? await signToken(identity, { claims }) : undefined;
    const response = await fetch(`${base}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        accept: 'application/fhir+json',
        ...(init.body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...init.headers,
      },
      ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
}

/** The identities of the FHIR tests beside the suite's people. */
export const interfaceEngine = { sub: 'mirth-connect', roles: ['integration'] };
