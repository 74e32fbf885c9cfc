import type { AuditEvent, AuditOutcome, Prisma } from '../generated/prisma/client.ts';
import { type Connection, encodeSequenceCursor, toConnection } from '../graphql/paging.ts';
import type { RequestScope } from '../server/request-scope.ts';
import { type ChainVerification, verifyAuditChain } from './chain-verification.ts';

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
  constructor(private readonly scope: RequestScope) {}

  /** A page of records, newest first (descending) or oldest first (for exports). */
  async list(query: AuditEventQuery, first: number, after: bigint | undefined, order: 'desc' | 'asc', action: string): Promise<Connection<AuditEvent>> {
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

  async verify(): Promise<ChainVerification> {
    this.scope.access.require('audit.read', 'audit.verify');
    const result = await verifyAuditChain(this.scope.prisma);
    this.scope.trail.note({ action: 'audit.verify', resourceType: 'AuditEvent', reason: result.intact ? 'intact' : result.problem ?? undefined });
    return result;
  }
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
