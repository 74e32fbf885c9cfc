import type { Logger } from 'pino';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import { insertRowsSql } from '../db/insert-rows.ts';
import { type AuditRecord, canonicalAuditRecord } from './audit-record.ts';
import { leafHash } from './merkle.ts';

/** Records per standalone insert at most (a long queue is drained in several). */
const maxGroupSize = 500;

interface Waiter {
  records: AuditRecord[];
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Where audit entries are written. An entry is one insert, with no lock and
 * no read of anything before it: its place in the log is given later by the
 * sequencer (sequencer.ts), which integrates committed entries into the
 * Merkle tree in batches. Writes append inside their own transaction
 * (appendWithin), so data and its audit entry commit or roll back together.
 * Reads and denials (append) are grouped: while one group's insert runs, the
 * next collects, so concurrent requests share one statement.
 */
export class AuditLog {
  private queue: Waiter[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly log: Logger,
    private readonly onAppend: (records: number, durationMs: number) => void = () => {},
  ) {}

  /** Appends records in a statement of their own; resolves once they are committed. */
  append(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Appends records inside the caller's transaction: they commit with it, or not at all. */
  async appendWithin(tx: Prisma.TransactionClient, records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const started = performance.now();
    await insertRecords(tx, records);
    this.onAppend(records.length, performance.now() - started);
  }

  /**
   * Runs a write (a data-modifying statement that returns what it wrote) and
   * appends the records in the same statement, only when it wrote any row.
   * @returns the rows the write returned
   */
  async appendAlong<T>(db: Prisma.TransactionClient, write: Prisma.Sql, records: AuditRecord[]): Promise<T[]> {
    const started = performance.now();
    const rows = await writeWithRecords<T>(db, write, records);
    if (rows.length > 0) this.onAppend(records.length, performance.now() - started);
    return rows;
  }

  /** Resolves when everything queued so far is committed (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group: Waiter[] = [];
      let size = 0;
      while (this.queue.length > 0 && size < maxGroupSize) {
        const waiter = this.queue.shift()!;
        group.push(waiter);
        size += waiter.records.length;
      }
      const started = performance.now();
      try {
        await insertRecords(this.prisma, group.flatMap((waiter) => waiter.records));
        this.onAppend(size, performance.now() - started);
        for (const waiter of group) waiter.resolve();
      } catch (error) {
        this.log.error({ errorType: (error as Error).name, records: size }, 'audit append failed');
        if (group.length === 1) {
          group[0]!.reject(error);
          continue;
        }
        // One bad record must not fail everyone else's requests: retry each waiter on its own.
        for (const waiter of group) {
          try {
            await insertRecords(this.prisma, waiter.records);
            waiter.resolve();
          } catch (alone) {
            waiter.reject(alone);
          }
        }
      }
    }
    this.flushing = undefined;
  }
}

/** A record as a writer stores it: with its leaf hash, in PostgreSQL's hex format for bytea. */
type StoredRecord = AuditRecord & { leafHash: string };

/** The columns a writer sets; the arrival number and the transaction id come from their defaults. */
const columns: (keyof StoredRecord)[] = [
  'id', 'recordedAt', 'actorSubject', 'actorRoles', 'action', 'outcome', 'resourceType', 'resourceIds', 'patientIds',
  'purposeOfUse', 'breakGlass', 'reason', 'requestId', 'clientRequestId', 'operationName', 'queryHash', 'clientAddress', 'userAgent',
  'leafHash', 'additionalEntities',
];

/** The leaf hash goes with the record, so the sequencer reads 32 bytes of it instead of the whole record. */
const stored = (records: AuditRecord[]): StoredRecord[] =>
  records.map((record) => ({ ...record, leafHash: `\\x${leafHash(canonicalAuditRecord(record)).toString('hex')}` }));

/** Inserts records in one statement with one JSON parameter (see insertRowsSql). */
function insertRecords(db: Prisma.TransactionClient, records: AuditRecord[]): Promise<number> {
  return db.$executeRaw(insertRowsSql('AuditEvent', columns, stored(records)));
}

/**
 * One statement that runs a data-modifying statement and inserts the audit
 * records with it, only when it wrote a row: a statement is its own
 * transaction, so both commit or neither does, with no BEGIN and COMMIT round
 * trips. Returns what the write returned.
 */
function writeWithRecords<T>(db: Prisma.TransactionClient, write: Prisma.Sql, records: AuditRecord[]): Promise<T[]> {
  return db.$queryRaw<T[]>`
    WITH written AS (${write}),
         appended AS (${insertRowsSql('AuditEvent', columns, stored(records), { where: Prisma.sql`EXISTS (SELECT 1 FROM written)` })})
    SELECT * FROM written`;
}
