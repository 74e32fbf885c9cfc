import type { AuditOutcome } from '../generated/prisma/client.ts';

/** What the code that touched patient data says about it. */
export interface AuditEntry {
  /** What was done, as `<resource>.<verb>`, e.g. patient.read, case.open, auth.authenticate. */
  action: string;
  outcome: AuditOutcome;
  resourceType?: string;
  resourceIds?: string[];
  patientIds?: string[];
  /** True when the access was allowed only by an emergency (break-glass) grant. */
  breakGlass?: boolean;
  /** A denial reason or error code; never clinical values. */
  reason?: string;
  /** Other kinds of data the same request read (see AuditTrail.read). */
  additionalEntities?: AuditEntity[];
}

/** One kind of data an entry names beyond its own action, resourceType and resourceIds. */
export interface AuditEntity {
  action: string;
  resourceType: string | null;
  resourceIds: string[];
}

/** Who asked, and through which request. */
export interface AuditActor {
  subject: string;
  roles: string[];
  purposeOfUse: string;
}

export interface AuditRequestMeta {
  /** The server's own id of the request (never the caller's: ids chosen by callers could make two actors' records share one). */
  requestId: string | null;
  /** The id the caller sent (`x-request-id`) when it was well-formed, kept beside the server's own for correlation with the caller's logs. */
  clientRequestId: string | null;
  operationName: string | null;
  queryHash: string | null;
  clientAddress: string | null;
  userAgent: string | null;
}

/** A complete audit record before it is placed in the chain. */
export interface AuditRecord {
  id: string;
  recordedAt: Date;
  actorSubject: string;
  actorRoles: string[];
  action: string;
  outcome: AuditOutcome;
  resourceType: string | null;
  resourceIds: string[];
  patientIds: string[];
  purposeOfUse: string;
  breakGlass: boolean;
  reason: string | null;
  requestId: string | null;
  clientRequestId: string | null;
  operationName: string | null;
  queryHash: string | null;
  clientAddress: string | null;
  userAgent: string | null;
  additionalEntities: AuditEntity[];
}

/**
 * Text exactly as PostgreSQL stores it. It refuses U+0000 (the insert, and with
 * it the record, would fail) and stores a lone UTF-16 surrogate as U+FFFD (the
 * stored record would no longer match the hash computed here, and the chain
 * would report tampering). Request metadata such as the operation name is the
 * client's to choose, so every text field goes through this.
 */
export function storableText(text: string): string {
  // Most text (ids, hashes, addresses) has neither: one quick scan, no copy.
  if (!/[\u0000\uD800-\uDFFF]/.test(text)) return text;
  return text.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

const storable = (text: string | null): string | null => (text === null ? null : storableText(text));

export function auditRecord(entry: AuditEntry, actor: AuditActor, meta: AuditRequestMeta): AuditRecord {
  return {
    id: crypto.randomUUID(),
    recordedAt: new Date(),
    actorSubject: storableText(actor.subject),
    actorRoles: actor.roles.map(storableText),
    action: storableText(entry.action),
    outcome: entry.outcome,
    resourceType: storable(entry.resourceType ?? null),
    resourceIds: (entry.resourceIds ?? []).map(storableText),
    patientIds: (entry.patientIds ?? []).map(storableText),
    purposeOfUse: storableText(actor.purposeOfUse),
    breakGlass: entry.breakGlass ?? false,
    reason: storable(entry.reason ?? null),
    requestId: storable(meta.requestId),
    clientRequestId: storable(meta.clientRequestId),
    operationName: storable(meta.operationName),
    queryHash: storable(meta.queryHash),
    clientAddress: storable(meta.clientAddress),
    userAgent: storable(meta.userAgent),
    additionalEntities: (entry.additionalEntities ?? []).map((entity) => ({
      action: storableText(entity.action),
      resourceType: storable(entity.resourceType),
      resourceIds: entity.resourceIds.map(storableText),
    })),
  };
}

/**
 * The canonical encoding of a record, the content of its Merkle leaf: a JSON
 * array of every field in a fixed order (time as ISO 8601 with milliseconds,
 * as stored), after a tag naming the format. Any change to a field changes
 * the leaf. The record's place in the log is not part of it: that is the
 * leaf's position in the tree. Formats only grow, so trees and checkpoints
 * signed before a field existed still verify byte for byte: a record without
 * a client request id or additional entities encodes as format 1; with a
 * client request id only, as format 2 (the id last); with additional
 * entities, as format 3 (the client request id, then each entity as
 * [action, resourceType, resourceIds]).
 * @param record as written, or as read back (additionalEntities as the
 *   database holds it: encoded as found, so a tampered value changes the leaf)
 */
export function canonicalAuditRecord(record: Omit<AuditRecord, 'additionalEntities'> & { additionalEntities: unknown }): Buffer {
  const fields = [
    record.id,
    record.recordedAt.toISOString(),
    record.actorSubject,
    record.actorRoles,
    record.action,
    record.outcome,
    record.resourceType,
    record.resourceIds,
    record.patientIds,
    record.purposeOfUse,
    record.breakGlass,
    record.reason,
    record.requestId,
    record.operationName,
    record.queryHash,
    record.clientAddress,
    record.userAgent,
  ];
  const { clientRequestId, additionalEntities } = record;
  if (!Array.isArray(additionalEntities)) return Buffer.from(JSON.stringify(['clinigraph-audit/3', ...fields, clientRequestId, additionalEntities]));
  if (additionalEntities.length > 0) return Buffer.from(JSON.stringify(['clinigraph-audit/3', ...fields, clientRequestId, additionalEntities.map(canonicalEntity)]));
  return Buffer.from(JSON.stringify(clientRequestId === null ? ['clinigraph-audit/1', ...fields] : ['clinigraph-audit/2', ...fields, clientRequestId]));
}

/** An entity in a fixed order; anything but an entity object is encoded as it is. */
function canonicalEntity(entity: unknown): unknown {
  if (typeof entity !== 'object' || entity === null || Array.isArray(entity)) return entity;
  const { action, resourceType, resourceIds, ...rest } = entity as Record<string, unknown>;
  return Object.keys(rest).length === 0 ? [action, resourceType, resourceIds] : entity;
}

/**
 * Every kind of data a stored record names, its own first, then its
 * additional entities as read back (the database's JSON; none when they are
 * not a list of entities).
 */
export function entitiesOf(record: Pick<AuditRecord, 'action' | 'resourceType' | 'resourceIds'> & { additionalEntities: unknown }): AuditEntity[] {
  const { action, resourceType, resourceIds, additionalEntities } = record;
  const others = Array.isArray(additionalEntities) ? additionalEntities : [];
  return [
    { action, resourceType, resourceIds },
    ...others.filter(
      (entity): entity is AuditEntity =>
        typeof entity === 'object' && entity !== null && typeof entity.action === 'string' && Array.isArray(entity.resourceIds),
    ),
  ];
}
