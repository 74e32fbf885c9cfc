import { z } from 'zod';
import type { AuditEventFilter } from '../generated/graphql.ts';
import { type Connection, leafCursor, pageSize, sequenceCursor } from '../graphql/paging.ts';
import { badInput } from '../errors/errors.ts';
import { boundedText, parseId, parseInput } from '../graphql/validation.ts';
import type { AuditEvent, AuditEventQuery, AuditRepository } from './audit.repository.ts';
import type { ConsistencyProof, InclusionProof } from '../audit/audit-ledger.ts';
import type { LogVerification } from '../audit/log-verification.ts';
import { toFhirAuditEvent } from '../audit/fhir-audit-event.ts';

const filterSchema = z.object({
  actorSubject: boundedText(256).nullish(),
  patientId: z.string().nullish(),
  action: boundedText(64).nullish(),
  outcome: z.enum(['SUCCESS', 'DENIED', 'ERROR']).nullish(),
  from: z.date().nullish(),
  to: z.date().nullish(),
  breakGlass: z.boolean().nullish(),
  // A code as stored (HL7 PurposeOfUse); the audit layer does not import the auth layer's list.
  purposeOfUse: boundedText(32).regex(/^[A-Z]+$/, { message: 'must be a PurposeOfUse code such as TREAT' }).nullish(),
});

/** Auditors' view of the audit log: queries, chain verification, FHIR export. */
export class AuditService {
  constructor(
    private readonly audit: AuditRepository,
    private readonly maxPageSize: number,
  ) {}

  events(filter: AuditEventFilter | null | undefined, first: number, after: string | null | undefined): Promise<Connection<AuditEvent>> {
    return this.audit.list(this.query(filter), pageSize(first, this.maxPageSize), after ? sequenceCursor.decode(after) : undefined);
  }

  verify(): Promise<LogVerification> {
    return this.audit.verify();
  }

  checkpoint(): Promise<string | null> {
    return this.audit.checkpoint();
  }

  inclusionProof(eventId: string, treeSize: string | null | undefined): Promise<InclusionProof> {
    return this.audit.inclusionProof(parseId(eventId, 'eventId'), optionalTreeSize(treeSize, 'treeSize'));
  }

  consistencyProof(fromSize: string, toSize: string | null | undefined): Promise<ConsistencyProof> {
    return this.audit.consistencyProof(treeSizeOf(fromSize, 'fromSize'), optionalTreeSize(toSize, 'toSize'));
  }

  /**
   * A page of FHIR R4 AuditEvent NDJSON in tree order (oldest first), so a
   * SIEM can follow the log with `after` and miss no record (see AuditRepository.exportPage).
   */
  async export(filter: AuditEventFilter | null | undefined, first: number, after: string | null | undefined) {
    const page = await this.audit.exportPage(this.query(filter), pageSize(first, 1000), after ? leafCursor.decode(after) : undefined);
    return {
      ndjson: page.events.map((event) => JSON.stringify(toFhirAuditEvent(event)) + '\n').join(''),
      count: page.events.length,
      hasNextPage: page.hasNextPage,
      endCursor: page.endCursor,
    };
  }

  private query(filter: AuditEventFilter | null | undefined): AuditEventQuery {
    const parsed = parseInput(filterSchema, filter ?? {}, 'filter');
    return {
      actorSubject: parsed.actorSubject ?? undefined,
      patientId: parsed.patientId ? parseId(parsed.patientId, 'filter.patientId') : undefined,
      action: parsed.action ?? undefined,
      outcome: parsed.outcome ?? undefined,
      from: parsed.from ?? undefined,
      to: parsed.to ?? undefined,
      breakGlass: parsed.breakGlass ?? undefined,
      purposeOfUse: parsed.purposeOfUse ?? undefined,
    };
  }
}

/** A tree size argument: a decimal string (sizes may outgrow 32-bit integers). */
function treeSizeOf(value: string, field: string): bigint {
  if (!/^(0|[1-9][0-9]{0,17})$/.test(value)) throw badInput(`${field} must be a tree size (a decimal number).`, { field });
  return BigInt(value);
}

const optionalTreeSize = (value: string | null | undefined, field: string) => (value == null ? undefined : treeSizeOf(value, field));
