import type { Logger } from 'pino';
import { isUniqueViolation } from '../db/errors.ts';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import { type AuditRecord, type ChainedAuditRecord, genesisHash, hashAuditRecord } from './audit-record.ts';

/** Key of the PostgreSQL advisory lock that serializes appends across every server process. */
const chainLockKey = 0x636c6e67; // "clng"
/** Records per standalone append transaction at most (a long queue is drained in several). */
const maxGroupSize = 500;

/** Where the chain ends: its last record's sequence and hash. */
interface ChainHead {
  sequence: bigint;
  hash: string;
}

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
 *
 * A group goes in one statement when this process knows where the chain ends
 * (it appended the last group itself): the statement takes the lock and
 * inserts after that head, one round trip instead of five (begin, lock, read
 * the head, insert, commit). If anyone appended since (a write, another
 * process), the statement inserts nothing (the head moved) or the primary
 * key refuses it (the sequence numbers are taken), so the chain cannot fork;
 * the group is then appended the full way, reading the head under the lock.
 */
export class AuditLog {
  private queue: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  /** The head as this process's last group left it; unknown at first and after any refusal. */
  private knownHead: ChainHead | undefined;

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
        await this.appendGroup(group.flatMap((waiter) => waiter.records));
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
            await this.appendGroup(waiter.records);
            waiter.resolve();
          } catch (alone) {
            waiter.reject(alone);
          }
        }
      }
    }
    this.flushing = undefined;
  }

  /** Appends one group: after the known head in one statement, else the full way (see the class comment). */
  private async appendGroup(records: AuditRecord[]): Promise<void> {
    const head = this.knownHead;
    this.knownHead = undefined;
    if (head) {
      const chained = chain(records, head);
      try {
        if ((await insertRecords(this.prisma, chained, { after: head })) === chained.length) {
          this.knownHead = headOf(chained);
          return;
        }
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
    this.knownHead = await this.prisma.$transaction((tx) => appendChained(tx, records), { maxWait: 10_000, timeout: 10_000 });
  }
}

/** Appends after the head read under the chain's lock (inside the caller's transaction); returns the new head. */
async function appendChained(tx: Prisma.TransactionClient, records: AuditRecord[]): Promise<ChainHead> {
  await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(${chainLockKey}::bigint)`;
  const [head] = await tx.$queryRaw<ChainHead[]>`
    SELECT sequence, hash FROM "AuditEvent" ORDER BY sequence DESC LIMIT 1`;
  const chained = chain(records, head && { sequence: BigInt(head.sequence), hash: head.hash });
  await insertRecords(tx, chained);
  return headOf(chained);
}

/** Numbers and links records after a head (none: the chain starts). */
function chain(records: AuditRecord[], head: ChainHead | undefined): ChainedAuditRecord[] {
  let sequence = head?.sequence ?? 0n;
  let previousHash = head?.hash ?? genesisHash;
  return records.map((record) => {
    sequence += 1n;
    const link = { ...record, sequence, previousHash };
    previousHash = hashAuditRecord(link);
    return { ...link, hash: previousHash };
  });
}

const headOf = (chained: ChainedAuditRecord[]): ChainHead => {
  const last = chained[chained.length - 1]!;
  return { sequence: last.sequence, hash: last.hash };
};

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
async function insertRecords(db: Prisma.TransactionClient, records: ChainedAuditRecord[], options: { after?: ChainHead } = {}): Promise<number> {
  const rows = JSON.stringify(records, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return db.$executeRaw`
    INSERT INTO "AuditEvent" (${columnList})
    SELECT ${columnList} FROM jsonb_populate_recordset(NULL::"AuditEvent", ${rows}::jsonb)${options.after ? afterKnownHead(options.after) : Prisma.empty}`;
}

/**
 * SQL completing an insert after a head the process knows (no transaction
 * around it): the chain's lock, taken before any row goes in and held until
 * the statement commits, so an append reading the head under the lock sees
 * these rows; and no rows at all when the head has moved on by the time the
 * statement starts (the usual case when another process appended; one that
 * commits while this statement waits for the lock makes the primary key refuse it).
 */
const afterKnownHead = (head: ChainHead) => Prisma.sql`
    , (SELECT 1 FROM pg_advisory_xact_lock(${chainLockKey}::bigint)) AS "chainLock"
    WHERE (SELECT max(sequence) FROM "AuditEvent") = ${head.sequence}`;
