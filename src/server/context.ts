import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { CaseRepository } from '../cases/case.repository.ts';
import { CaseService } from '../cases/case.service.ts';
import { PatientRepository } from '../patients/patient.repository.ts';
import { PatientService } from '../patients/patient.service.ts';
import type { RequestScope } from './request-scope.ts';

/** What every resolver receives: the request's services, built fresh per request. */
export interface RequestContext {
  requestId: string;
  log: Logger;
  patients: PatientService;
  cases: CaseService;
}

export interface ContextDeps {
  config: Config;
  db: Database;
}

/** Builds the per-request services (and their DataLoaders, so caching never crosses requests). */
export function createRequestContext(deps: ContextDeps, requestId: string, log: Logger): RequestContext {
  const scope: RequestScope = { prisma: deps.db.prisma, config: deps.config, requestId, log };
  const patients = new PatientService(new PatientRepository(scope), deps.config.maxPageSize);
  const cases = new CaseService(new CaseRepository(scope), patients);
  return { requestId, log, patients, cases };
}
