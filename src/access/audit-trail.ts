import type { AuditLog } from '../audit/audit-log.ts';
import { type AuditEntry, type AuditRecord, type AuditRequestMeta, auditRecord } from '../audit/audit-record.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { type Action, purposeOfUseFor } from './permissions.ts';
import type { Principal } from './principal.ts';

/** An audit entry whose action is one of the known ones. */
export type TrailEntry = Omit<AuditEntry, 'action'> & { action: Action };

/** What a denial or failure names. */
export type TrailTarget = Pick<AuditEntry, 'resourceType' | 'resourceIds' | 'patientIds'>;

/**
 * The audit side of one request. Reads, denials and failed attempts are
 * collected while the operation runs and appended once, before the response
 * leaves (the audit plugin withholds the data if that append fails). Writes
 * append inside their own transaction through `within`.
 */
export class AuditTrail {
  /** Entries collected so far, by kind; their ids in sets, so a hundred reads of one kind cost no more than one union each. */
  private readonly collected = new Map<string, { entry: TrailEntry; resourceIds: Set<string>; patientIds: Set<string> }>();

  constructor(
    private readonly auditLog: AuditLog,
    readonly actor: Principal,
    readonly meta: AuditRequestMeta,
    /** False only where reads are deliberately not recorded (benchmarks measuring the audit's cost). */
    private readonly recordReads = true,
  ) {}

  /**
   * Notes what a read returned; reads of one kind in one request become one
   * record (two when some patients were reached through break-glass, so those
   * are flagged).
   */
  read(action: Action, resourceType: string, items: { id: string; patientId: string }[], breakGlass: ReadonlySet<string> = new Set()): void {
    if (!this.recordReads) return;
    for (const flagged of [false, true]) {
      const part = items.filter((item) => breakGlass.has(item.patientId) === flagged);
      if (part.length === 0) continue;
      this.collect({
        action,
        outcome: 'SUCCESS',
        resourceType,
        resourceIds: part.map((item) => item.id),
        patientIds: part.map((item) => item.patientId),
        breakGlass: flagged,
      });
    }
  }

  /** Notes any other successful access (e.g. an auditor reading the log). */
  note(entry: Omit<TrailEntry, 'outcome'>): void {
    this.collect({ ...entry, outcome: 'SUCCESS' });
  }

  /** Notes a refused access. */
  denied(action: Action, reason: string, target: TrailTarget = {}): void {
    this.collect({ action, outcome: 'DENIED', reason, ...target });
  }

  /** Notes a write that was attempted and failed (nothing of it was stored). */
  failed(action: Action, reason: string, target: TrailTarget = {}): void {
    this.collect({ action, outcome: 'ERROR', reason, ...target });
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
    const entries = [...this.collected.values()].map(({ entry, resourceIds, patientIds }) => ({ ...entry, resourceIds: [...resourceIds], patientIds: [...patientIds] }));
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

  private collect(entry: TrailEntry): void {
    const key = [entry.action, entry.outcome, entry.resourceType, entry.breakGlass ?? false, entry.reason].join('|');
    const existing = this.collected.get(key);
    if (!existing) {
      this.collected.set(key, { entry, resourceIds: new Set(entry.resourceIds), patientIds: new Set(entry.patientIds) });
      return;
    }
    // Each id once: ten cases of one patient are one patient id, not ten.
    for (const id of entry.resourceIds ?? []) existing.resourceIds.add(id);
    for (const id of entry.patientIds ?? []) existing.patientIds.add(id);
  }
}
