import type { AuditEvent } from '../generated/prisma/client.ts';
import { canonicalAuditRecord, entitiesOf } from './audit-record.ts';
import { leafHash } from './merkle.ts';

/*
 * The audit log as FHIR R4 AuditEvent resources (http://hl7.org/fhir/R4/auditevent.html),
 * the format SIEMs and health-data exchanges read. Codes come from the code
 * systems R4 binds to each element.
 */

const outcomeCodes = { SUCCESS: '0', DENIED: '4', ERROR: '8' } as const;

/** FHIR's CRUDE action code for a clinigraph action verb. */
function actionCode(action: string): 'C' | 'R' | 'U' | 'D' | 'E' {
  const verb = action.split('.').at(-1) ?? '';
  if (['read', 'list'].includes(verb)) return 'R';
  if (['create', 'open', 'add'].includes(verb)) return 'C';
  if (['update', 'close', 'archive', 'merge', 'record', 'review', 'promote'].includes(verb)) return 'U';
  if (['remove', 'delete'].includes(verb)) return 'D';
  return 'E';
}

/** An audit record as a FHIR AuditEvent; with its leaf index when it is integrated (exports). */
export function toFhirAuditEvent(event: AuditEvent & { leafIndex?: bigint }): Record<string, unknown> {
  const entities = entitiesOf(event);
  const purposes = [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: event.purposeOfUse }];
  if (event.breakGlass) purposes.push({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG' });
  return {
    resourceType: 'AuditEvent',
    id: event.id,
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [...new Set(entities.map((entity) => entity.action))].map((code) => ({ system: 'urn:clinigraph:audit-action', code })),
    action: actionCode(event.action),
    recorded: event.recordedAt.toISOString(),
    outcome: outcomeCodes[event.outcome],
    ...(event.reason ? { outcomeDesc: event.reason } : {}),
    purposeOfEvent: purposes.map((coding) => ({ coding: [coding] })),
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser' }] },
        who: { identifier: { value: event.actorSubject } },
        requestor: true,
        role: event.actorRoles.map((role) => ({ text: role })),
        ...(event.clientAddress ? { network: { address: event.clientAddress, type: '2' } } : {}),
      },
    ],
    source: {
      observer: { display: 'clinigraph' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity: [
      // Each reference with the action done to it: one request's reads of a case and of its observations both name the case.
      ...entities.flatMap((entity) =>
        entity.resourceIds.map((id) => ({ what: { reference: `${entity.resourceType ?? 'Resource'}/${id}` }, detail: [{ type: 'clinigraph-action', valueString: entity.action }] })),
      ),
      ...event.patientIds.map((id) => ({
        what: { reference: `Patient/${id}` },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      })),
    ],
    extension: [
      { url: 'urn:clinigraph:audit-sequence', valueString: event.sequence.toString() },
      ...(event.leafIndex === undefined ? [] : [{ url: 'urn:clinigraph:audit-leaf-index', valueString: event.leafIndex.toString() }]),
      { url: 'urn:clinigraph:audit-leaf-hash', valueString: leafHash(canonicalAuditRecord(event)).toString('hex') },
      ...(event.requestId ? [{ url: 'urn:clinigraph:request-id', valueString: event.requestId }] : []),
      ...(event.clientRequestId ? [{ url: 'urn:clinigraph:client-request-id', valueString: event.clientRequestId }] : []),
      ...(event.operationName ? [{ url: 'urn:clinigraph:graphql-operation', valueString: event.operationName }] : []),
      ...(event.queryHash ? [{ url: 'urn:clinigraph:graphql-document-hmac-sha256', valueString: event.queryHash }] : []),
      ...(event.userAgent ? [{ url: 'urn:clinigraph:user-agent', valueString: event.userAgent }] : []),
    ],
  };
}
