import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { ContextDeps, RequestContext } from '../server/context.ts';
import { type BulkExportRunner, exportTypes } from './bulk-export.ts';
import { type DeidentificationProfile, deidentificationProfiles } from './deidentify.ts';
import type { DutyCycle } from './duty-cycle.ts';
import { fhirRequestContext, flushReads, requireScope } from './fhir-context.ts';
import { type ExportFile, type ExportProfile, FhirExportRepository } from './fhir-export.repository.ts';
import { fhirError, operationOutcome, toFhirError } from './operation-outcome.ts';
import { type SearchParams, singleParam } from './search-params.ts';

const ndjsonFormats = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * FHIR Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html):
 * kick-off at `$export` and `Patient/$export` (Prefer: respond-async, 202 and
 * Content-Location), polling of `$export-status/{id}` (202 with X-Progress,
 * then 200 with the manifest), DELETE to cancel, NDJSON files at
 * `$export-file/{id}/{type}` for the requester's token only, streamed from
 * the parts the job stored. Data scientists
 * get a de-identified profile (`_deidentify=safe-harbor`, the default, or
 * `shifted-dates`); admins asking for operations (HOPERAT) get identified
 * data unless they ask for one.
 */
export function registerExportRoutes(api: FastifyInstance, deps: ContextDeps, guard: preHandlerHookHandler[], runner: BulkExportRunner, baseUrl: (request: FastifyRequest) => string): void {
  const kickOff = (level: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as SearchParams;
    if (!/respond-async/.test(String(request.headers.prefer ?? ''))) throw fhirError(400, 'invalid', 'A bulk export runs asynchronously: send Prefer: respond-async.', 'Prefer');
    const outputFormat = singleParam(query, '_outputFormat');
    if (outputFormat && !ndjsonFormats.has(outputFormat)) throw fhirError(400, 'not-supported', 'Exports are written as application/fhir+ndjson.', '_outputFormat');
    const typeList = singleParam(query, '_type');
    const types = typeList ? typeList.split(',').map((type) => type.trim()) : [...exportTypes];
    const unknown = types.find((type) => !(exportTypes as readonly string[]).includes(type));
    if (unknown) throw fhirError(400, 'not-supported', `${unknown} is not exported; export some of ${exportTypes.join(', ')}.`, '_type');
    const deidentification = deidentificationOf(singleParam(query, '_deidentify'));
    const sinceParam = singleParam(query, '_since');
    const since = sinceParam ? new Date(sinceParam) : null;
    if (since && Number.isNaN(since.getTime())) throw fhirError(400, 'invalid', '_since must be an instant, e.g. 2026-01-01T00:00:00Z.', '_since');
    const context = await fhirRequestContext(deps, request);
    requireExportScopes(context, types);
    const { principal } = context;
    const profile: ExportProfile = !deidentification && principal.roles.includes('admin') && principal.purposeOfUse === 'HOPERAT' ? 'identified' : (deidentification ?? 'safe-harbor');
    if (profile !== 'identified' && !deps.config.fhir.pseudonymKey) {
      throw fhirError(503, 'not-supported', 'De-identified exports need FHIR_EXPORT_PSEUDONYM_KEY to be set.');
    }
    // Records chosen by their real change times would date them: a few exports with close _since values
    // tell when a pseudonymous case really opened, hence its patient's date shift and real birth date.
    if (profile !== 'identified' && since) {
      throw fhirError(400, 'not-supported', 'A de-identified export cannot take _since: choosing records by when they really changed would reveal the real dates that the date shift hides. Export without it; pseudonyms are stable, so records match those of an earlier export.', '_since');
    }
    const requestUrl = `${baseUrl(request)}${request.url.slice(request.url.indexOf('/R4') + 3)}`;
    const job = await exportsOf(context)
      .createJob({ level, types, since, profile, requestUrl })
      .catch((error: unknown) => {
        throw toFhirError(error);
      });
    await flushReads(context);
    runner.start(job);
    return reply
      .code(202)
      .header('content-location', `${baseUrl(request)}/$export-status/${job.id}`)
      .type('application/fhir+json')
      .send(operationOutcome([{ severity: 'information', code: 'informational', diagnostics: `Export ${job.id} started (${job.profile}).` }]));
  };
  api.get('/$export', { preHandler: guard }, kickOff('system'));
  api.get('/Patient/$export', { preHandler: guard }, kickOff('Patient'));

  api.get<{ Params: { id: string } }>('/$export-status/:id', { preHandler: guard }, async (request, reply) => {
    const context = await fhirRequestContext(deps, request);
    const exports = exportsOf(context);
    const job = uuid.test(request.params.id) ? await exports.findJob(request.params.id) : null;
    if (!job || job.status === 'CANCELLED') throw fhirError(404, 'not-found', `No export ${request.params.id} of yours.`);
    requireExportScopes(context, job.types);
    if (job.status === 'QUEUED' || job.status === 'RUNNING') return reply.code(202).header('x-progress', job.progress ?? 'queued').header('retry-after', '1').send();
    if (job.status === 'FAILED') throw fhirError(500, 'exception', job.error ?? 'The export failed.');
    const expires = await exports.expiresAt(job.id, deps.config.fhir.exportRetentionMs);
    if (!expires) throw expired(request.params.id, deps.config.fhir.exportRetentionMs);
    const files = await exports.manifestFiles(job.id);
    return reply.type('application/json').header('expires', expires.toUTCString()).send({
      transactionTime: job.createdAt.toISOString(),
      request: job.requestUrl,
      requiresAccessToken: true,
      output: files.map((file) => ({ type: file.type, url: `${baseUrl(request)}/$export-file/${job.id}/${file.type}`, count: file.count })),
      error: [],
      extension: { 'urn:clinigraph:export-report': job.report },
    });
  });

  api.delete<{ Params: { id: string } }>('/$export-status/:id', { preHandler: guard }, async (request, reply) => {
    const context = await fhirRequestContext(deps, request);
    const exports = exportsOf(context);
    const job = uuid.test(request.params.id) ? await exports.findJob(request.params.id) : null;
    if (job) requireExportScopes(context, job.types);
    const cancelled = job !== null && (await exports.cancel(request.params.id));
    if (!cancelled) throw fhirError(404, 'not-found', `No export ${request.params.id} of yours.`);
    return reply.code(202).send();
  });

  api.get<{ Params: { id: string; type: string } }>('/$export-file/:id/:type', { preHandler: guard }, async (request, reply) => {
    const context = await fhirRequestContext(deps, request);
    const { id, type } = request.params;
    const exports = exportsOf(context);
    const file = uuid.test(id) ? await exports.file(id, type) : null;
    if (!file) throw fhirError(404, 'not-found', 'No such export file of yours.');
    requireExportScopes(context, [type]);
    const expires = await exports.expiresAt(id, deps.config.fhir.exportRetentionMs);
    if (!expires) throw expired(id, deps.config.fhir.exportRetentionMs);
    await flushReads(context);
    return reply.type('application/fhir+ndjson').header('expires', expires.toUTCString()).send(Readable.from(fileParts(exports, file, id, runner.pacing())));
  });
}

/**
 * An export reaches every patient its requester reaches, so a token's scopes
 * must allow reading each of its types beyond one patient: patient/ scopes,
 * confined to one patient, allow neither starting an export nor reading,
 * downloading or cancelling one.
 */
function requireExportScopes(context: RequestContext, types: readonly string[]): void {
  for (const type of types) requireScope(context, type, 'r', false);
}

/**
 * A file's NDJSON streamed a part at a time, each read a step of the
 * download's duty cycle, so a large file neither sits whole in memory nor
 * holds the event loop or a connection while interactive requests wait.
 * The file holds `count` lines (one resource each): a part missing before
 * them all means the export was cancelled or expired meanwhile (which
 * deletes its parts), and the stream fails rather than end early, so the
 * client sees an error (the response is cut off, or a 410 when nothing was
 * sent yet), never a truncated file ending like a whole one.
 */
async function* fileParts(exports: FhirExportRepository, file: ExportFile, jobId: string, pace: DutyCycle): AsyncGenerator<string> {
  let lines = 0;
  for (let seq = 0; lines < file.count; seq++) {
    const ndjson = await pace.step(() => exports.part(jobId, file.type, seq));
    if (ndjson === null) throw fhirError(410, 'not-found', `Export ${jobId} was cancelled or expired during the download: its files are deleted. Start a new export.`);
    lines += lineCount(ndjson);
    yield ndjson;
  }
}

/** Lines of NDJSON text (each ends in a newline; JSON.stringify writes none inside one). */
function lineCount(ndjson: string): number {
  let count = 0;
  for (let at = ndjson.indexOf('\n'); at !== -1; at = ndjson.indexOf('\n', at + 1)) count++;
  return count;
}

/** 410 for an export whose files expired (deleted, or about to be). */
function expired(id: string, retentionMs: number) {
  return fhirError(410, 'not-found', `Export ${id} has expired: its files are kept ${retentionMs / 3_600_000} hours after it completes. Start a new export.`);
}

/** The de-identification profile `_deidentify` asks for (none: the role's default), or a 400 naming the parameter. */
function deidentificationOf(asked: string | undefined): DeidentificationProfile | undefined {
  if (asked === undefined) return undefined;
  if ((deidentificationProfiles as readonly string[]).includes(asked)) return asked as DeidentificationProfile;
  throw fhirError(400, 'not-supported', `_deidentify=${asked} is not a profile: ask for one of ${deidentificationProfiles.join(', ')}.`, '_deidentify');
}

function exportsOf(context: RequestContext): FhirExportRepository {
  return new FhirExportRepository(context.scope);
}
