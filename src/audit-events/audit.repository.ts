import type { Scope } from '../access/scope.ts';
import type { AuditEvent, AuditOutcome, Prisma } from '../generated/prisma/client.ts';
import { type Connection, encodeSequenceCursor, toConnection } from '../graphql/paging.ts';
import { badInput, notFound } from '../errors/errors.ts';
import { type AuditLedger, type ConsistencyProof, type InclusionProof, ProofUnavailable } from '../audit/audit-ledger.ts';
import type { LogVerification } from '../audit/log-verification.ts';

export type { AuditEvent };

export interface AuditEventQuery {
  actorSubject?: string | undefined;
  patientId?: string | undefined;
  action?: string | undefined;
  outcome?: AuditOutcome | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  breakGlass?: boolean | undefined;
  purposeOfUse?: string | undefined;
}

/**
 * Reads of the audit log, for auditors only. Reading the log shows patient
 * ids, so each read is itself audited.
 */
export class AuditRepository {
  constructor(
    private readonly scope: Scope,
    private readonly ledger: AuditLedger,
  ) {}

  /** A page of records, newest first (descending) or oldest first (for exports). */
  async list(query: AuditEventQuery, first: number, after: bigint | undefined, order: 'desc' | 'asc', action: 'audit.read' | 'audit.export'): Promise<Connection<AuditEvent>> {
    const { access, prisma, trail } = this.scope;
    access.require('audit.read', action);
    const where = whereOf(query);
    const position = after === undefined ? {} : { sequence: order === 'desc' ? { lt: after } : { gt: after } };
    const rows = await prisma.auditEvent.findMany({
      where: { AND: [where, position] },
      orderBy: { sequence: order },
      take: first + 1,
    });
    const page = rows.slice(0, first);
    trail.note({
      action,
      resourceType: 'AuditEvent',
      resourceIds: page.map((row) => row.id),
      patientIds: [...new Set(page.flatMap((row) => row.patientIds))],
    });
    return toConnection(rows, first, after !== undefined, () => prisma.auditEvent.count({ where }), (row) => encodeSequenceCursor(row.sequence));
  }

  async verify(): Promise<LogVerification> {
    this.scope.access.require('audit.read', 'audit.verify');
    const result = await this.ledger.verify();
    this.scope.trail.note({ action: 'audit.verify', resourceType: 'AuditEvent', reason: result.intact ? 'intact' : result.problem ?? undefined });
    return result;
  }

  async checkpoint(): Promise<string | null> {
    this.scope.access.require('audit.read', 'audit.checkpoint');
    const checkpoint = await this.ledger.checkpoint();
    this.scope.trail.note({ action: 'audit.checkpoint', resourceType: 'AuditCheckpoint', resourceIds: checkpoint ? [checkpoint.size.toString()] : [] });
    return checkpoint?.note ?? null;
  }

  async inclusionProof(eventId: string, treeSize: bigint | undefined): Promise<InclusionProof> {
    this.scope.access.require('audit.read', 'audit.prove');
    const proof = await this.ledger.inclusionProof(eventId, treeSize).catch(codedProofError);
    this.scope.trail.note({ action: 'audit.prove', resourceType: 'AuditEvent', resourceIds: [eventId] });
    return proof;
  }

  async consistencyProof(fromSize: bigint, toSize: bigint | undefined): Promise<ConsistencyProof> {
    this.scope.access.require('audit.read', 'audit.prove');
    const proof = await this.ledger.consistencyProof(fromSize, toSize).catch(codedProofError);
    this.scope.trail.note({ action: 'audit.prove', resourceType: 'AuditCheckpoint', resourceIds: [proof.fromSize.toString(), proof.toSize.toString()] });
    return proof;
  }
}

function codedProofError(error: unknown): never {
  if (!(error instanceof ProofUnavailable)) throw error;
  throw error.reason === 'unknown-entry' ? notFound(error.message) : badInput(error.message, { reason: error.reason });
}

function whereOf(query: AuditEventQuery): Prisma.AuditEventWhereInput {
  return {
    ...(query.actorSubject ? { actorSubject: query.actorSubject } : {}),
    ...(query.patientId ? { patientIds: { has: query.patientId } } : {}),
    ...(query.action ? { action: query.action } : {}),
    ...(query.outcome ? { outcome: query.outcome } : {}),
    ...(query.breakGlass !== undefined ? { breakGlass: query.breakGlass } : {}),
    ...(query.purposeOfUse ? { purposeOfUse: query.purposeOfUse } : {}),
    ...(query.from || query.to
      ? { recordedAt: { ...(query.from ? { gte: query.from } : {}), ...(query.to ? { lte: query.to } : {}) } }
      : {}),
  };
}
