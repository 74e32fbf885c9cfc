import assert from 'node:assert/strict';
import type { TestServer } from './test-server.ts';
import { people } from './tokens.ts';

export interface AuditEventView {
  sequence: string;
  actorSubject: string;
  actorRoles: string[];
  action: string;
  outcome: string;
  resourceType: string | null;
  resourceIds: string[];
  patientIds: string[];
  purposeOfUse: string;
  breakGlass: boolean;
  reason: string | null;
  requestId: string | null;
  operationName: string | null;
  queryHash: string | null;
  clientAddress: string | null;
  userAgent: string | null;
}

const fields = `sequence actorSubject actorRoles action outcome resourceType resourceIds patientIds purposeOfUse
  breakGlass reason requestId operationName queryHash clientAddress userAgent`;

/**
 * The newest audit records matching a filter, read through the API as an auditor.
 * @param client how to reach the server as an auditor (default: the test key's auditor)
 */
export async function auditEvents(
  api: TestServer,
  filter: Record<string, unknown> = {},
  first = 100,
  client: Pick<ReturnType<TestServer['as']>, 'gql'> = api.as(people.auditor),
): Promise<AuditEventView[]> {
  const response = await client.gql(
    `query Audit($filter: AuditEventFilter, $first: Int) { auditEvents(filter: $filter, first: $first) { edges { node { ${fields} } } } }`,
    { filter, first },
  );
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  return response.body.data!.auditEvents.edges.map((edge: { node: AuditEventView }) => edge.node);
}
