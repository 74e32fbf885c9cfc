import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditRequestMeta } from '../audit/audit-record.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import { AccessPolicy } from './access-policy.ts';
import { AuditTrail } from './audit-trail.ts';
import { OwnedRecordStore } from './owned-record-store.ts';
import type { Principal, Role } from './principal.ts';

/**
 * What the data-access layer of one unit of work (an HTTP request, start-up,
 * a training job, a command-line run) is built from. Only repositories hold
 * the Prisma client, and every one of them checks `access` before it reads or
 * writes and records what it did in `trail`.
 */
export interface Scope {
  prisma: PrismaClient;
  /**
   * Lists and the clinical data read around them (cases, observations,
   * images, predictions) may come from a read replica. Access decisions,
   * writes and the audit log always use `prisma`, the primary.
   */
  replica: PrismaClient;
  config: Config;
  access: AccessPolicy;
  trail: AuditTrail;
  log: Logger;
  /** Patient-owned rows, read, listed and written with the check and the audit record in one place. */
  records: OwnedRecordStore;
  /**
   * A value the repositories of this scope share, made on first use (rows one
   * repository read for another in the same statement, such as a case list
   * with the predictions the client selected under it); the repository that
   * hands them out still checks access and audits what it returns.
   */
  local<T>(slot: ScopeSlot<T>): T;
}

/** A key for a value shared within one scope; `create` makes its first value. */
export interface ScopeSlot<T> {
  readonly create: () => T;
}

/** The process-wide parts every scope is built from. */
export interface ScopeDeps {
  db: Database;
  config: Config;
  auditLog: AuditLog;
  log: Logger;
}

/**
 * The one way to get a data-access scope: a per-scope access policy and
 * audit trail for the principal, so neither access decisions nor cached rows
 * ever cross units of work.
 * @param meta the request the audit records name (all null for system work)
 */
export function openScope(deps: ScopeDeps, principal: Principal, meta: AuditRequestMeta): Scope {
  const { db, config, auditLog, log } = deps;
  const trail = new AuditTrail(auditLog, principal, meta, config.auditReads);
  const locals = new Map<ScopeSlot<unknown>, unknown>();
  const access = new AccessPolicy(db.prisma, principal, trail);
  return {
    prisma: db.prisma,
    replica: db.replica,
    config,
    access,
    trail,
    log,
    records: new OwnedRecordStore({ prisma: db.prisma, access, trail }),
    local<T>(slot: ScopeSlot<T>): T {
      if (!locals.has(slot)) locals.set(slot, slot.create());
      return locals.get(slot) as T;
    },
  };
}

/** Audit metadata of work no HTTP request carries. */
const systemMeta: AuditRequestMeta = { requestId: null, clientRequestId: null, operationName: null, queryHash: null, clientAddress: null, userAgent: null };

/**
 * Runs work no HTTP request carries (start-up, background training jobs, the
 * command-line tools) in a scope of its own: the same repositories, access
 * checks and audit records, under a named operator. What the work read or was
 * refused is appended when it ends, whether it succeeded or failed, as a
 * request's is before its response leaves.
 * @param subject who the audit log names, e.g. `clinigraph` or `cli:alice`
 * @param roles what the work may do
 * @throws what the work threw; else what appending its audit records threw
 */
export async function runAsSystem<T>(deps: ScopeDeps, subject: string, roles: Role[], work: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = openScope(deps, { subject, roles, purposeOfUse: 'HSYSADMIN' }, systemMeta);
  let result: T;
  try {
    result = await work(scope);
  } catch (error) {
    await scope.trail.flush().catch((flushError: Error) => deps.log.error({ errorType: flushError.name }, 'audit records of failed system work not written'));
    throw error;
  }
  await scope.trail.flush();
  return result;
}
