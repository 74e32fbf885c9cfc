import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';

/**
 * What the data-access layer of one request is built from. Only repositories
 * hold the Prisma client; resolvers and services reach data through them.
 */
export interface RequestScope {
  prisma: PrismaClient;
  config: Config;
  requestId: string;
  log: Logger;
}
