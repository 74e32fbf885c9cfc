import type { Scope } from '../access/scope.ts';
import { type AuditEvent, type AuditOutcome, Prisma } from '../generated/prisma/client.ts';
import { type Connection, leafCursor, sequenceCursor, toConnection } from '../graphql/paging.ts';
import { badInput, notFound } from '../errors/errors.ts';
import { type AuditLedger, type ConsistencyProof, type InclusionProof, ProofUnavailable } from '../audit/audit-ledger.ts';
import type { LogVerification } from '../audit/log-verification.ts';

export type { AuditEvent };

/** An integrated record with its position in the tree. */
export type LeafEvent = AuditEvent & { leafIndex: bigint };

/** SQL: a record's columns (the record aliased `e`), named, so a prepared statement survives a migration that adds one. */
const eventColumns = Prisma.raw(Object.values(Prisma.AuditEventScalarFieldEnum).map((column) => `e."${column}"`).join(', '));

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

  /** A page of records, newest first, by arrival number. */
  async list(query: AuditEventQuery, first: number, after: bigint | undefined): Promise<Connection<AuditEvent>> {
    const { access, prisma } = this.scope;
    access.require('audit.read', 'audit.read');
    const filter = filterSql(query);
    const rows = await prisma.$queryRaw<AuditEvent[]>`
      SELECT ${eventColumns} FROM "AuditEvent" e
       WHERE ${filter} AND e.sequence < ${after ?? maxInt8}
       ORDER BY e.sequence DESC LIMIT ${first + 1}`;
    this.noteRead('audit.read', rows.slice(0, first));
    const count = async () => {
      const [row] = await prisma.$queryRaw<{ count: number }[]>`SELECT count(*)::int AS count FROM "AuditEvent" e WHERE ${filter}`;
      return row!.count;
    };
    return toConnection(rows, first, after !== undefined, count, (row) => sequenceCursor.encode(row.sequence));
  }

  /**
   * A page of integrated records in tree order, for exports that follow the
   * log: leaf positions are final and given in increasing order, so a record
   * that commits late (a lower arrival number than records already exported)
   * is integrated after them and comes on a later page, never skipped. A
   * record is exported once integrated (within about a second of its commit).
   */
  async exportPage(query: AuditEventQuery, first: number, after: bigint | undefined): Promise<{ events: LeafEvent[]; hasNextPage: boolean; endCursor: string | null }> {
    const { access, prisma } = this.scope;
    access.require('audit.read', 'audit.export');
    const rows = await prisma.$queryRaw<LeafEvent[]>`
      SELECT l.position AS "leafIndex", ${eventColumns}
        FROM "AuditLeaf" l JOIN "AuditEvent" e ON e.sequence = l."eventSequence"
       WHERE l.position > ${after ?? -1n} AND ${filterSql(query)}
       ORDER BY l.position LIMIT ${first + 1}`;
    const events = rows.slice(0, first);
    this.noteRead('audit.export', events);
    const last = events.at(-1);
    return { events, hasNextPage: rows.length > first, endCursor: last ? leafCursor.encode(last.leafIndex) : null };
  }

  private noteRead(action: 'audit.read' | 'audit.export', page: AuditEvent[]): void {
    this.scope.trail.note({
      action,
      resourceType: 'AuditEvent',
      resourceIds: page.map((row) => row.id),
      patientIds: [...new Set(page.flatMap((row) => row.patientIds))],
    });
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

/** The largest value of the arrival number's type (int8): the bound of a first page. */
const maxInt8 = 2n ** 63n - 1n;

/** SQL: the records a query asks for, the record aliased `e` (raw SQL: exports join the tree, which Prisma cannot express). */
function filterSql(query: AuditEventQuery): Prisma.Sql {
  const conditions = [
    query.actorSubject ? Prisma.sql`e."actorSubject" = ${query.actorSubject}` : undefined,
    query.patientId ? Prisma.sql`e."patientIds" @> ARRAY[${query.patientId}]::text[]` : undefined,
    // An entry's action, or that of another kind of data the same request read.
    query.action ? Prisma.sql`(e.action = ${query.action} OR e."additionalEntities" @> ${JSON.stringify([{ action: query.action }])}::jsonb)` : undefined,
    query.outcome ? Prisma.sql`e.outcome = ${query.outcome}::"AuditOutcome"` : undefined,
    query.breakGlass !== undefined ? Prisma.sql`e."breakGlass" = ${query.breakGlass}` : undefined,
    query.purposeOfUse ? Prisma.sql`e."purposeOfUse" = ${query.purposeOfUse}` : undefined,
    query.from ? Prisma.sql`e."recordedAt" >= ${query.from}` : undefined,
    query.to ? Prisma.sql`e."recordedAt" <= ${query.to}` : undefined,
  ].filter((condition) => condition !== undefined);
  return conditions.length === 0 ? Prisma.sql`TRUE` : Prisma.join(conditions, ' AND ');
}
