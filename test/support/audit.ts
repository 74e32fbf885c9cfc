import assert from 'node:assert/strict';
import type { AuditEntity, AuditRecord } from '../../src/audit/audit-record.ts';
import type { TestServer } from './test-server.ts';
import { people } from './tokens.ts';

/** An audit record as the API shows it (the sequence as a decimal string; every entity, its own first; no id, time or hashes). */
export type AuditEventView = Omit<AuditRecord, 'id' | 'recordedAt' | 'additionalEntities'> & { sequence: string; entities: AuditEntity[] };

const fields = `sequence actorSubject actorRoles action outcome resourceType resourceIds entities { action resourceType resourceIds } patientIds
  purposeOfUse breakGlass reason requestId clientRequestId operationName queryHash clientAddress userAgent`;

/** The entity of a record with this action (a request's reads are one record naming each kind); fails when it has none. */
export function entityOf(record: AuditEventView, action: string): AuditEntity {
  const entity = record.entities.find((candidate) => candidate.action === action);
  assert.ok(entity, `${action} in ${JSON.stringify(record.entities)}`);
  return entity;
}

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
