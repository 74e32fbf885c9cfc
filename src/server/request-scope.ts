import type { Logger } from 'pino';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { AccessPolicy } from '../auth/access-policy.ts';
import type { Config } from '../config/config.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';

/**
 * What the data-access layer of one request is built from. Only repositories
 * hold the Prisma client, and every one of them checks `access` before it
 * reads or writes and records what it did in `trail`.
 */
export interface RequestScope {
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
}
