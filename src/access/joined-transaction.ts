import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditRecord } from '../audit/audit-record.ts';
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import type { ScopeDeps } from './scope.ts';

/**
 * Runs work whose scopes all write through one database transaction (a FHIR
 * transaction Bundle): every write a repository makes, and its audit records,
 * commit together or not at all. Repositories that open a transaction of
 * their own join this one. Their audit records are held back and appended
 * once, at the end and inside the transaction; reads and denials go to the
 * log's own queue, as any request's do.
 * @param work gets the process-wide parts bound to the transaction, to open its scopes with
 */
export function inJoinedTransaction<D extends ScopeDeps, T>(deps: D, timeoutMs: number, work: (bound: D) => Promise<T>): Promise<T> {
  const { db, auditLog } = deps;
  return db.prisma.$transaction(
    async (tx) => {
      const joined = joiningTransaction(tx);
      const pending: AuditRecord[] = [];
      const value = await work({ ...deps, db: { ...db, prisma: joined, replica: joined }, auditLog: deferringAppends(auditLog, pending) });
      await auditLog.appendWithin(tx, pending);
      return value;
    },
    { maxWait: 10_000, timeout: timeoutMs },
  );
}

/** A transaction client that repositories can use as their Prisma client: their own `$transaction` runs inside this one. */
function joiningTransaction(tx: Prisma.TransactionClient): PrismaClient {
  const join = (work: (client: Prisma.TransactionClient) => Promise<unknown>) => work(tx);
  return new Proxy(tx, { get: (target, key) => (key === '$transaction' ? join : Reflect.get(target, key)) }) as unknown as PrismaClient;
}

/** The audit log, with appends inside a transaction held back in `pending` (appended by the caller before commit). */
function deferringAppends(auditLog: AuditLog, pending: AuditRecord[]): AuditLog {
  const deferring: Pick<AuditLog, 'appendWithin' | 'appendAlong' | 'append'> = {
    async appendWithin(_tx, records) {
      pending.push(...records);
    },
    async appendAlong<T>(tx: Prisma.TransactionClient, write: Prisma.Sql, records: AuditRecord[]) {
      const rows = await tx.$queryRaw<T[]>(write);
      if (rows.length > 0) pending.push(...records);
      return rows;
    },
    append: (records) => auditLog.append(records),
  };
  return Object.assign(Object.create(auditLog) as AuditLog, deferring);
}
