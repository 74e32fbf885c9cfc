import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { type Permission, permissionTable } from '../access/permissions.ts';
import type { Principal } from '../access/principal.ts';
import { scopeGrant } from '../access/smart-scopes.ts';
import type { TrailEntry } from '../access/audit-trail.ts';
import type { ContextDeps, RequestContext } from '../server/context.ts';
import { countRequestsInFlight } from '../server/requests-in-flight.ts';
import { BundleImport, type EntryResult, type ImportEntry, parseImportBundle, type StoredEntry } from './bundle-import.ts';
import { BulkExportRunner } from './bulk-export.ts';
import { capabilityStatement } from './capability-statement.ts';
import { CodeCatalog } from './code-catalog.ts';
import { ProductionFeaturesRepository } from './production-features.repository.ts';
import { fhirRequestContext, flushReads, inOneTransaction, requireScope } from './fhir-context.ts';
import { registerExportRoutes } from './fhir-export.routes.ts';
import { FhirIdentifierRepository } from './fhir-identifier.repository.ts';
import { FhirObservationCodingRepository } from './fhir-observation-coding.repository.ts';
import { FhirReads, type SearchParams, searchset } from './fhir-reads.ts';
import { defaultMrnSystem } from './fhir-resources.ts';
import { FhirError, fhirError, operationOutcome, toFhirError } from './operation-outcome.ts';

const fhirBase = '/fhir/R4';
const fhirJson = 'application/fhir+json';
/** The kick-off, polling and file URLs of system-level exports (`$` as sent or percent-encoded). */
const exportUrl = /^\/fhir\/R4\/(\$|%24)export/i;

/** What each readable type needs: the permission (GraphQL's), and how a read or search runs. */
const readable = {
  Patient: { permission: 'patient.read', read: 'patient', search: 'searchPatients' },
  Encounter: { permission: 'clinical.read', read: 'encounter', search: 'searchEncounters' },
  EpisodeOfCare: { permission: 'clinical.read', read: 'episodeOfCare', search: undefined },
  Observation: { permission: 'clinical.read', read: 'observation', search: 'searchObservations' },
  RiskAssessment: { permission: 'prediction.read', read: 'riskAssessment', search: 'searchRiskAssessments' },
  Device: { permission: 'model.read', read: 'device', search: undefined },
} as const satisfies Record<string, { permission: Permission; read: keyof FhirReads | undefined; search: keyof FhirReads | undefined }>;
type ReadableType = keyof typeof readable;

/**
 * The FHIR R4 API at /fhir/R4 (application/fhir+json): the
 * CapabilityStatement, Bundle imports, reads and searches. Every request
 * after `metadata` passes `guard` (the token check, rate limit and refused-
 * token audit of /graphql) and then uses the same services as GraphQL, so
 * access rules and audit records are the same. Errors are OperationOutcomes.
 */
export async function registerFhirRoutes(http: FastifyInstance, deps: ContextDeps, guard: preHandlerHookHandler[]): Promise<BulkExportRunner> {
  // Built from the models in production, and rebuilt before an import or read once they changed (promoted here: at once; on another replica: within catalogMaxAgeMs).
  const catalog = new CodeCatalog();
  const production = new ProductionFeaturesRepository(deps.db.prisma);
  await catalog.refresh(production).catch((error: unknown) => deps.log.warn({ errorType: (error as Error).name }, 'code catalog not built: no models read yet'));
  deps.productionChanges.subscribe(() => catalog.invalidate());
  // Exports give way to interactive requests; the polling and downloads of exports are not what they give way to.
  const exports = new BulkExportRunner(deps, catalog, countRequestsInFlight(http.server, (url) => !exportUrl.test(url)));
  // A database not yet migrated has no job table; its jobs (none) wait for the next start.
  await exports.resumeUnfinished().catch((error: unknown) => deps.log.warn({ errorType: (error as Error).name }, 'unfinished bulk exports not resumed'));
  exports.startHousekeeping();
  const { fhir: settings, maxPageSize } = deps.config;
  const mrnSystem = settings.mrnSystem ?? defaultMrnSystem;
  guard = [...guard, refuseUnauthenticated];

  await http.register(
    async (api) => {
      api.addContentTypeParser(fhirJson, { parseAs: 'string', bodyLimit: settings.maxBundleBytes }, (_request, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(fhirError(400, 'structure', 'The body is not valid JSON.'), undefined);
        }
      });
      api.setErrorHandler(async (error, request, reply) => {
        const fastifyStatus = (error as { statusCode?: number }).statusCode;
        const refusal =
          error instanceof FhirError
            ? error
            : fastifyStatus === 413
              ? fhirError(413, 'too-costly', `The Bundle is larger than this server accepts (FHIR_MAX_BUNDLE_BYTES = ${settings.maxBundleBytes}).`)
              : fastifyStatus && fastifyStatus < 500
                ? fhirError(fastifyStatus, 'invalid', 'The request is malformed or has an unsupported content type (send application/fhir+json).')
                : toFhirError(error);
        if (refusal.status >= 500 && !(error instanceof FhirError)) deps.log.error({ requestId: request.id, errorType: (error as Error).name }, 'unexpected FHIR error');
        return sendOutcome(reply, refusal);
      });
      api.setNotFoundHandler((request, reply) => sendOutcome(reply, fhirError(404, 'not-supported', `${request.method} ${request.url.split('?')[0]} is not part of this FHIR API: see ${fhirBase}/metadata.`)));

      api.get('/metadata', async (request, reply) =>
        reply.type(fhirJson).send(capabilityStatement(baseUrl(request), { name: 'clinigraph', version: process.env.npm_package_version ?? '0.1.0' })),
      );

      registerExportRoutes(api, deps, guard, exports, baseUrl);

      api.post('/', { preHandler: guard, bodyLimit: settings.maxBundleBytes }, async (request, reply) => {
        const { type, entries } = parseImportBundle(request.body);
        requireImportScopes(request, entries);
        await catalog.refresh(production);
        const stored = new Map<string, StoredEntry>();
        const run = (chosen: ImportEntry[]) =>
          inOneTransaction(deps, request, { timeoutMs: settings.importTimeoutMs, action: 'fhir.import' }, async (context) => {
            const results = await new BundleImport(context, identifierRepository(context), new FhirObservationCodingRepository(context.scope), catalog, settings.mrnSystem, stored).run(chosen);
            // Each stored resource's own record commits with it; this summary of the Bundle goes with the request's reads.
            context.trail.note(importRecord(results));
            return results;
          });
        if (type === 'transaction') {
          const { result, context } = await run(entries);
          await flushReads(context);
          return reply.type(fhirJson).send(responseBundle('transaction-response', entries.map((entry) => entryResponse(result.get(entry.index)!))));
        }
        // A batch: each entry on its own, in its own transaction; one refused entry leaves the others stored.
        const answers: BundleEntry[] = [];
        for (const entry of entries) {
          try {
            const { result, context } = await run([entry]);
            await flushReads(context);
            answers.push(entryResponse(result.get(entry.index)!));
          } catch (error) {
            const refusal = toFhirError(error);
            answers.push({ response: { status: String(refusal.status), outcome: operationOutcome(refusal.issues) } });
          }
        }
        return reply.type(fhirJson).send(responseBundle('batch-response', answers));
      });

      api.get<{ Params: { type: string; id: string } }>('/:type/:id', { preHandler: guard }, async (request, reply) => {
        const type = readableType(request.params.type);
        const how = readable[type].read;
        if (!how) throw fhirError(405, 'not-supported', `${type} is searched, not read by id, here.`);
        const context = await fhirRequestContext(deps, request);
        await catalog.refresh(production);
        requireScope(context, type, 'r');
        const resource = await asAbsentWhenOutOfReach(context.principal, readable[type].permission, type, () =>
          reads(context, catalog, mrnSystem)[how](request.params.id),
        );
        await flushReads(context);
        if (!resource) throw fhirError(404, 'not-found', `${type}/${request.params.id} is not known, or not within your reach.`);
        return reply.type(fhirJson).send(resource);
      });

      api.get<{ Params: { type: string }; Querystring: SearchParams }>('/:type', { preHandler: guard }, async (request, reply) => {
        const type = readableType(request.params.type);
        const how = readable[type].search;
        if (!how) throw fhirError(405, 'not-supported', `${type} is read by id, not searched, here.`);
        const context = await fhirRequestContext(deps, request);
        await catalog.refresh(production);
        requireScope(context, type, 's');
        const found = await asAbsentWhenOutOfReach(context.principal, readable[type].permission, type, () =>
          reads(context, catalog, mrnSystem)[how](request.query),
        );
        await flushReads(context);
        return reply.type(fhirJson).send(searchset(found ?? [], new URL(request.url, baseUrl(request)), request.query, maxPageSize));
      });
    },
    { prefix: fhirBase },
  );
  return exports;
}

/** Answers a refused token (401/403) before anything of the request is looked at. */
async function refuseUnauthenticated(request: FastifyRequest): Promise<void> {
  const authentication = request.authentication;
  if (!authentication || 'error' in authentication) throw toFhirError(authentication?.error ?? fhirError(401, 'login', 'Authentication required.'));
}

function readableType(type: string): ReadableType {
  if (!(type in readable)) throw fhirError(404, 'not-supported', `${type} is not served here: see ${fhirBase}/metadata.`);
  return type as ReadableType;
}

/** A repository of imported identifiers in the request's own scope (inside an import, the import's transaction). */
function identifierRepository(context: RequestContext): FhirIdentifierRepository {
  return new FhirIdentifierRepository(context.scope);
}

function reads(context: RequestContext, catalog: CodeCatalog, mrnSystem: string): FhirReads {
  return new FhirReads(context, identifierRepository(context), new FhirObservationCodingRepository(context.scope), catalog, mrnSystem);
}

/**
 * Runs a read; a refusal of a caller whose role does allow the read means the
 * record is out of their reach (or absent): both read as absent (null, or an
 * empty search). A role without the permission is refused (403), and a
 * malformed id reads as absent too.
 */
async function asAbsentWhenOutOfReach<T>(principal: Principal, permission: Permission, type: string, read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    const refusal = toFhirError(error);
    const roleAllows = principal.roles.some((role) => (permissionTable[permission] as Partial<Record<string, string>>)[role]);
    if (refusal.status === 403 && roleAllows) return null;
    if (refusal.status === 403) throw fhirError(403, 'forbidden', `Your role does not allow reading ${type}.`);
    if (refusal.status === 422 && /not a valid ID/.test(refusal.message)) return null;
    throw refusal;
  }
}


function requireImportScopes(request: FastifyRequest, entries: ImportEntry[]): void {
  const authentication = request.authentication;
  const scopes = authentication && 'principal' in authentication ? authentication.principal.smartScopes : undefined;
  if (!scopes) return;
  // patient/ scopes reach one patient's records, and imports write any patient's: they need user/ or system/ scopes.
  const refused = entries.find((entry) => scopeGrant(scopes, entry.resource.resourceType, entry.method === 'POST' ? 'c' : 'u') !== 'all');
  if (refused) throw fhirError(403, 'forbidden', `Your token's scopes do not allow ${refused.method === 'POST' ? 'creating' : 'updating'} ${refused.resource.resourceType}.`, `Bundle.entry[${refused.index}].request.method`);
}


/** One audit record of an import, next to the records of each write it made. */
function importRecord(results: Map<number, EntryResult>): Omit<TrailEntry, 'outcome'> {
  const stored = [...results.values()];
  return {
    action: 'fhir.import',
    resourceType: 'Bundle',
    resourceIds: [...new Set(stored.flatMap((result) => (result.location ? [result.location.split('/')[1]!] : [])))],
    patientIds: [...new Set(stored.flatMap((result) => (result.patientId ? [result.patientId] : [])))],
  };
}

function entryResponse(result: EntryResult): BundleEntry {
  const outcome = result.note ? operationOutcome([{ severity: 'information', code: 'informational', diagnostics: result.note }]) : undefined;
  return { response: { status: result.status, ...(result.location ? { location: result.location } : {}), ...(outcome ? { outcome } : {}) } };
}

function responseBundle(type: 'transaction-response' | 'batch-response', entry: BundleEntry[]): Bundle {
  return { resourceType: 'Bundle', type, entry };
}

function sendOutcome(reply: FastifyReply, refusal: FhirError): FastifyReply {
  if (refusal.status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(refusal.status).type(fhirJson).send(operationOutcome(refusal.issues));
}

function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${fhirBase}`;
}

