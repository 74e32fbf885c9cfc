import { createHmac } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { AuditRepository } from '../audit-events/audit.repository.ts';
import { AuditService } from '../audit-events/audit.service.ts';
import type { AuditLedger } from '../audit/audit-ledger.ts';
import type { AuditRequestMeta } from '../audit/audit-record.ts';
import type { AuditTrail } from '../access/audit-trail.ts';
import type { Principal } from '../access/principal.ts';
import { openScope, type Scope, type ScopeDeps } from '../access/scope.ts';
import { CareTeamRepository } from '../care-teams/care-team.repository.ts';
import { CareTeamService } from '../care-teams/care-team.service.ts';
import { CaseRepository } from '../cases/case.repository.ts';
import { CaseService } from '../cases/case.service.ts';
import { ConsentRepository } from '../consent/consent.repository.ts';
import { ConsentService } from '../consent/consent.service.ts';
import { ModelRepository } from '../models/model.repository.ts';
import { ModelService } from '../models/model.service.ts';
import { TrainingDataRepository } from '../models/training-data.repository.ts';
import type { TrainingRunner } from '../models/training-runner.ts';
import { PatientRepository } from '../patients/patient.repository.ts';
import { PatientService } from '../patients/patient.service.ts';
import type { ModelServer } from '../predictions/model-server.ts';
import { casePredictions, PredictionRepository } from '../predictions/prediction.repository.ts';
import { PredictionService } from '../predictions/prediction.service.ts';
import type { ProductionChanges } from '../models/production-changes.ts';

/** What every resolver receives: who is asking, and the request's services, built fresh per request. */
export interface RequestContext {
  requestId: string;
  log: Logger;
  principal: Principal;
  trail: AuditTrail;
  /** The request's data-access scope, for repositories of interfaces other than GraphQL (FHIR). */
  scope: Scope;
  patients: PatientService;
  cases: CaseService;
  careTeams: CareTeamService;
  consent: ConsentService;
  audit: AuditService;
  models: ModelService;
  predictions: PredictionService;
}

/** The process-wide parts a request context is built from. */
export interface ContextDeps extends ScopeDeps {
  auditLedger: AuditLedger;
  modelServer: ModelServer;
  trainingRunner: TrainingRunner;
  /** Promotions made in this process, for the caches of what production models read. */
  productionChanges: ProductionChanges;
}

const clientRequestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** The request id a caller sent (`x-request-id`), when it is safe to log and store; it is never the request's own id. */
export function clientRequestId(request: FastifyRequest): string | undefined {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && clientRequestIdPattern.test(given) ? given : undefined;
}

/**
 * Audit metadata of HTTP requests: ids and a keyed hash (HMAC-SHA256) of the
 * document, never its variables. Keyed, because a document may hold an MRN
 * inline, and a plain hash would give it back to anyone trying candidates.
 */
export const requestMetaWith = (queryHashKey: Buffer) => (request: FastifyRequest): AuditRequestMeta => {
  const params = (request.method === 'GET' ? request.query : request.body) as Record<string, unknown> | undefined;
  const query = typeof params?.query === 'string' ? params.query : undefined;
  // Apollo refines this once it has parsed the document; requests refused earlier keep this guess.
  const named = query ? /^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(query)?.[1] : undefined;
  const operationName = (typeof params?.operationName === 'string' ? params.operationName : named)?.slice(0, 200) ?? null;
  const userAgent = request.headers['user-agent'];
  return {
    requestId: request.id,
    clientRequestId: clientRequestId(request) ?? null,
    operationName,
    queryHash: query === undefined ? null : createHmac('sha256', queryHashKey).update(query).digest('hex'),
    clientAddress: request.ip ?? null,
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 300) : null,
  };
};

/**
 * Builds a request's services from its authentication (done by the route's
 * preHandler): a per-request access policy and audit trail, and repositories
 * (with their DataLoaders) on top, so neither access decisions nor cached rows
 * ever cross requests.
 * @throws the authentication's coded error when the token was refused
 */
export async function createRequestContext(deps: ContextDeps, request: FastifyRequest): Promise<RequestContext> {
  const { config } = deps;
  const authentication = request.authentication;
  if (!authentication) throw new GraphQLError('Request was not authenticated.');
  if ('error' in authentication) throw authentication.error;
  const { principal, meta } = authentication;
  const clientId = clientRequestId(request);
  const log = deps.log.child({ requestId: request.id, ...(clientId ? { clientRequestId: clientId } : {}) });
  const scope = openScope({ ...deps, log }, principal, meta);
  const { trail } = scope;
  const patients = new PatientService(new PatientRepository(scope), trail, config.maxPageSize);
  const cases = new CaseService(new CaseRepository(scope, casePredictions(scope)), patients, trail);
  const consent = new ConsentService(new ConsentRepository(scope), patients, trail);
  const models = new ModelService(new ModelRepository(scope), new TrainingDataRepository(scope), scope.access, deps.trainingRunner, trail, config.maxPageSize, deps.productionChanges);
  return {
    requestId: request.id,
    log,
    principal,
    trail,
    scope,
    patients,
    cases,
    careTeams: new CareTeamService(new CareTeamRepository(scope), patients, trail, config.breakGlassMinutes, config.maxPageSize),
    consent,
    audit: new AuditService(new AuditRepository(scope, deps.auditLedger), config.maxPageSize),
    models,
    predictions: new PredictionService(
      new PredictionRepository(scope),
      cases,
      patients,
      consent,
      models,
      deps.modelServer,
      trail,
      config.predictions.cohortMax,
    ),
  };
}
