import type { AuditLog } from '../audit/audit-log.ts';
import { type AuditEntity, type AuditEntry, type AuditRecord, type AuditRequestMeta, auditRecord } from '../audit/audit-record.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { type Action, purposeOfUseFor } from './permissions.ts';
import type { Principal } from './principal.ts';

/** An audit entry whose action is one of the known ones. */
export type TrailEntry = Omit<AuditEntry, 'action'> & { action: Action };

/** What a denial or failure names. */
export type TrailTarget = Pick<AuditEntry, 'resourceType' | 'resourceIds' | 'patientIds'>;

/** What a request's entry has collected so far: each kind of data, its ids in sets (a hundred reads of one kind cost no more than one union each). */
interface Collected {
  entry: TrailEntry;
  kinds: Map<string, { action: string; resourceType: string | null; resourceIds: Set<string> }>;
  patientIds: Set<string>;
}

/**
 * The audit side of one request. Reads, denials and failed attempts are
 * collected while the operation runs and appended once, before the response
 * leaves (the audit plugin withholds the data if that append fails). Writes
 * append inside their own transaction through `within`.
 */
export class AuditTrail {
  /** Entries collected so far, by what makes them separate entries. */
  private readonly collected = new Map<string, Collected>();

  constructor(
    private readonly auditLog: AuditLog,
    readonly actor: Principal,
    readonly meta: AuditRequestMeta,
    /** False only where reads are deliberately not recorded (benchmarks measuring the audit's cost). */
    private readonly recordReads = true,
  ) {}

  /**
   * Notes what a read returned. All of a request's successful reads become
   * one entry (more when some patients were reached through break-glass, so
   * those are flagged, or when some reads were made for another purpose):
   * the first kind read gives its action, resourceType and resourceIds, each
   * other kind is one of its additionalEntities, as a FHIR AuditEvent names
   * several entities. One entry a request, not one a kind, is a quarter of
   * the rows a patient's detail page costs the log and its sequencer.
   */
  read(action: Action, resourceType: string, items: { id: string; patientId: string }[], breakGlass: ReadonlySet<string> = new Set()): void {
    if (!this.recordReads) return;
    for (const flagged of [false, true]) {
      const part = items.filter((item) => breakGlass.has(item.patientId) === flagged);
      if (part.length === 0) continue;
      const entry: TrailEntry = {
        action,
        outcome: 'SUCCESS',
        resourceType,
        resourceIds: part.map((item) => item.id),
        patientIds: part.map((item) => item.patientId),
        breakGlass: flagged,
      };
      // Kinds read for different purposes (a data scientist's model reads beside patient data) stay apart.
      this.collect(`read|${flagged}|${purposeOfUseFor(this.actor, action, flagged)}`, entry);
    }
  }

  /** Notes any other successful access (e.g. an auditor reading the log). */
  note(entry: Omit<TrailEntry, 'outcome'>): void {
    this.collectApart({ ...entry, outcome: 'SUCCESS' });
  }

  /** Notes a refused access. */
  denied(action: Action, reason: string, target: TrailTarget = {}): void {
    this.collectApart({ action, outcome: 'DENIED', reason, ...target });
  }

  /** Notes a write that was attempted and failed (nothing of it was stored). */
  failed(action: Action, reason: string, target: TrailTarget = {}): void {
    this.collectApart({ action, outcome: 'ERROR', reason, ...target });
  }

  /** Appends write records inside the write's own transaction. */
  within(tx: Prisma.TransactionClient, entries: TrailEntry[]): Promise<void> {
    return this.auditLog.appendWithin(tx, entries.map((entry) => this.record(entry)));
  }

  /**
   * Runs a write statement that returns what it wrote and appends the
   * records in the same statement, when it wrote any row (see AuditLog.appendAlong).
   */
  along<T>(db: Prisma.TransactionClient, write: Prisma.Sql, entries: TrailEntry[]): Promise<T[]> {
    return this.auditLog.appendAlong<T>(db, write, entries.map((entry) => this.record(entry)));
  }

  /** Appends an entry on its own, now (used where no request will finish normally, e.g. refused tokens). */
  appendNow(entry: TrailEntry): Promise<void> {
    return this.auditLog.append([this.record(entry)]);
  }

  /** Appends everything collected; rejects if the audit log cannot take it. */
  async flush(): Promise<void> {
    const entries = [...this.collected.values()].map(collectedEntry);
    if (entries.length === 0) return;
    this.collected.clear();
    await this.auditLog.append(entries.map((entry) => this.record(entry)));
  }

  get pending(): number {
    return this.collected.size;
  }

  private record(entry: TrailEntry): AuditRecord {
    const { subject, roles } = this.actor;
    return auditRecord(entry, { subject, roles, purposeOfUse: purposeOfUseFor(this.actor, entry.action, entry.breakGlass) }, this.meta);
  }

  /** Collects an entry that is never merged with another kind (denials, failures, notes). */
  private collectApart(entry: TrailEntry): void {
    this.collect([entry.action, entry.outcome, entry.resourceType, entry.breakGlass ?? false, entry.reason].join('|'), entry);
  }

  private collect(key: string, entry: TrailEntry): void {
    let collected = this.collected.get(key);
    if (!collected) {
      collected = { entry, kinds: new Map(), patientIds: new Set() };
      this.collected.set(key, collected);
    }
    const kindKey = `${entry.action}|${entry.resourceType ?? ''}`;
    let kind = collected.kinds.get(kindKey);
    if (!kind) {
      kind = { action: entry.action, resourceType: entry.resourceType ?? null, resourceIds: new Set() };
      collected.kinds.set(kindKey, kind);
    }
    // Each id once: ten cases of one patient are one patient id, not ten.
    for (const id of entry.resourceIds ?? []) kind.resourceIds.add(id);
    for (const id of entry.patientIds ?? []) collected.patientIds.add(id);
  }
}

/** The entry a request's collected accesses make: the first kind in its own fields, the others as additional entities. */
function collectedEntry({ entry, kinds, patientIds }: Collected): TrailEntry {
  const [first, ...others] = [...kinds.values()].map((kind): AuditEntity => ({ ...kind, resourceIds: [...kind.resourceIds] }));
  return {
    ...entry,
    action: first!.action as Action,
    resourceType: first!.resourceType ?? undefined,
    resourceIds: first!.resourceIds,
    patientIds: [...patientIds],
    ...(others.length > 0 ? { additionalEntities: others } : {}),
  };
}
