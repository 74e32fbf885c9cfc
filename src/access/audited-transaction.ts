import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import type { AuditTrail, TrailEntry, TrailTarget } from './audit-trail.ts';
import type { Action } from './permissions.ts';
import type { Scope } from './scope.ts';

/**
 * Runs a write and appends its audit records in the same database
 * transaction: both commit, or neither does.
 * @param describe the audit entries for what the write did
 */
export function auditedTransaction<T>(
  scope: Pick<Scope, 'prisma' | 'trail'>,
  write: (tx: Prisma.TransactionClient) => Promise<T>,
  describe: (result: T) => TrailEntry[],
): Promise<T> {
  return scope.prisma.$transaction(
    async (tx) => {
      const result = await write(tx);
      await scope.trail.within(tx, describe(result));
      return result;
    },
    { maxWait: 10_000, timeout: 15_000 },
  );
}

/**
 * Runs a service operation and, when it fails with anything but a denial
 * (denials are recorded where they happen), records the failed attempt.
 */
export async function recordingFailure<T>(
  trail: AuditTrail,
  action: Action,
  target: TrailTarget,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = isDatabaseUnavailable(error) ? 'UNAVAILABLE' : (error as { extensions?: { code?: unknown } }).extensions?.code;
    if (code !== 'FORBIDDEN') trail.failed(action, typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR', target);
    throw error;
  }
}
