import type { Logger } from 'pino';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { AccessPolicy } from '../auth/access-policy.ts';
import type { Config } from '../config/config.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { PredictionRecord } from '../predictions/prediction.repository.ts';

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
  /**
   * Rows one repository read for another in the same statement (a case list
   * with the predictions the client selected under it), kept for this scope
   * only; the other repository still checks access and audits what it returns.
   */
  preloaded: Preloaded;
}

export interface Preloaded {
  predictionsByCase: Map<string, PredictionRecord[]>;
}

export const nothingPreloaded = (): Preloaded => ({ predictionsByCase: new Map() });
