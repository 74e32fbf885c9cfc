import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import { AccessPolicy } from '../auth/access-policy.ts';
import type { Principal } from '../auth/principal.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { nothingPreloaded, type RequestScope } from './request-scope.ts';

/**
 * A data-access scope for work no HTTP request carries (start-up, background
 * training jobs, the command-line tools): the same repositories, access checks
 * and audit records, under a named operator.
 * @param subject who the audit log names, e.g. `clinigraph` or `cli:alice`
 * @param roles what the work may do
 */
export function systemScope(db: Database, config: Config, auditLog: AuditLog, log: Logger, subject: string, roles: Principal['roles']): RequestScope {
  const principal: Principal = { subject, roles, purposeOfUse: 'HSYSADMIN' };
  const trail = new AuditTrail(auditLog, principal, { requestId: null, operationName: null, queryHash: null, clientAddress: null, userAgent: null });
  return { prisma: db.prisma, replica: db.replica, config, access: new AccessPolicy(db.prisma, principal, trail), trail, log, preloaded: nothingPreloaded() };
}
