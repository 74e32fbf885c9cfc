import type { Logger } from 'pino';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import { type AuditRecord, type ChainedAuditRecord, genesisHash, hashAuditRecord } from './audit-record.ts';

/** Key of the PostgreSQL advisory lock that serializes appends across every server process. */
const chainLockKey = 0x636c6e67; // "clng"
/** Records per standalone append transaction at most (a long queue is drained in several). */
const maxGroupSize = 500;

interface Waiter {
  records: AuditRecord[];
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The append-only, hash-chained audit log.
 *
 * Every append takes a transaction-scoped advisory lock, reads the head of
 * the chain and inserts after it, so the chain stays one line however many
 * processes write. Writes append inside their own transaction (appendWithin),
 * so data and its audit record commit or roll back together. Reads and
 * denials (append) are grouped: while one group commits, the next collects,
 * so concurrent requests share a transaction instead of queueing on the lock.
 */
export class AuditLog {
  private queue: Waiter[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly log: Logger,
    private readonly onAppend: (records: number, durationMs: number) => void = () => {},
  ) {}

  /** Appends records in a transaction of their own; resolves once they are committed. */
  append(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Appends records inside the caller's transaction (the lock is held until it commits). */
  async appendWithin(tx: Prisma.TransactionClient, records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const started = performance.now();
    await appendChained(tx, records);
    this.onAppend(records.length, performance.now() - started);
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
        await this.prisma.$transaction((tx) => appendChained(tx, group.flatMap((waiter) => waiter.records)), {
          maxWait: 10_000,
          timeout: 10_000,
        });
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
            await this.prisma.$transaction((tx) => appendChained(tx, waiter.records), { maxWait: 10_000, timeout: 10_000 });
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

async function appendChained(tx: Prisma.TransactionClient, records: AuditRecord[]): Promise<void> {
  await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(${chainLockKey}::bigint)`;
  const [head] = await tx.$queryRaw<{ sequence: bigint; hash: string }[]>`
    SELECT sequence, hash FROM "AuditEvent" ORDER BY sequence DESC LIMIT 1`;
  let sequence = head ? BigInt(head.sequence) : 0n;
  let previousHash = head?.hash ?? genesisHash;
  const chained: ChainedAuditRecord[] = records.map((record) => {
    sequence += 1n;
    const link = { ...record, sequence, previousHash };
    previousHash = hashAuditRecord(link);
    return { ...link, hash: previousHash };
  });
  await insertRecords(tx, chained);
}

/** The audit table's columns, in the order a chained record lists them. */
const columns: (keyof ChainedAuditRecord)[] = [
  'sequence', 'id', 'recordedAt', 'actorSubject', 'actorRoles', 'action', 'outcome', 'resourceType', 'resourceIds', 'patientIds',
  'purposeOfUse', 'breakGlass', 'reason', 'requestId', 'operationName', 'queryHash', 'clientAddress', 'userAgent', 'previousHash', 'hash',
];
const columnList = Prisma.raw(columns.map((column) => `"${column}"`).join(', '));

/**
 * Inserts a group in one statement with one JSON parameter. Prisma's
 * createMany compiles a new query plan for every group size, which cost more
 * CPU than the rest of the audit put together (BENCHMARKS.md, audit cost).
 */
async function insertRecords(tx: Prisma.TransactionClient, records: ChainedAuditRecord[]): Promise<void> {
  const rows = JSON.stringify(records, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  await tx.$executeRaw`
    INSERT INTO "AuditEvent" (${columnList})
    SELECT ${columnList} FROM jsonb_populate_recordset(NULL::"AuditEvent", ${rows}::jsonb)`;
}
