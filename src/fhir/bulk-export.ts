import type { Resource } from '@medplum/fhirtypes';
import { isPurposeOfUse, isRole, type Principal } from '../access/principal.ts';
import { openScope } from '../access/scope.ts';
import type { Case, Observation } from '../cases/case.repository.ts';
import type { Patient } from '../patients/patient.repository.ts';
import type { FhirExportJob } from './fhir-export.repository.ts';
import type { ContextDeps } from '../server/context.ts';
import type { RequestsInFlight } from '../server/requests-in-flight.ts';
import type { CodeCatalog } from './code-catalog.ts';
import { deidentifiedEncounter, deidentifiedObservation, deidentifiedPatient, kAnonymous, Pseudonymizer } from './deidentify.ts';
import { type ExportFile, type ExportProfile, type ExportReport, FhirExportRepository } from './fhir-export.repository.ts';
import { defaultMrnSystem, toFhirEncounter, toFhirObservation, toFhirPatient } from './fhir-resources.ts';

/** Resource types a bulk export holds, in the order it writes them. */
export const exportTypes = ['Patient', 'Encounter', 'Observation'] as const;
type ExportType = (typeof exportTypes)[number];

/** Patients an export reads and writes between two yields to interactive requests (with their cases and observations). */
const exportPageSize = 50;
/**
 * Share of the time export pages may take while interactive requests are in
 * flight: after a page, an export waits nine times as long as the page took,
 * so requests keep (nearly) the whole process and database; an idle server
 * runs exports at full speed.
 */
const shareBesideRequests = 0.1;

/**
 * Runs bulk exports in the background of this process, one at a time, under
 * the requester's identity (the same access checks and audit records as the
 * request), yielding to interactive requests between steps. Jobs are rows in
 * the database: those a stopped process left unfinished run again at start.
 */
export class BulkExportRunner {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: ContextDeps,
    private readonly catalog: CodeCatalog,
    private readonly requests: RequestsInFlight,
  ) {}

  /** Queues a job; it runs after the ones before it. */
  start(job: FhirExportJob): void {
    this.queue = this.queue.then(() => this.run(job)).catch((error: unknown) => this.deps.log.error({ jobId: job.id, errorType: (error as Error).name }, 'bulk export failed'));
  }

  /** Queues the jobs a previous process left queued or running. */
  async resumeUnfinished(): Promise<void> {
    const jobs = await this.deps.db.prisma.fhirExportJob.findMany({ where: { status: { in: ['QUEUED', 'RUNNING'] } }, orderBy: { createdAt: 'asc' } });
    for (const job of jobs) this.start(job);
  }

  /** Resolves when every queued job has finished (shutdown, tests). */
  idle(): Promise<void> {
    return this.queue;
  }

  private async run(job: FhirExportJob): Promise<void> {
    const { trail, exports } = this.requesterScope(job);
    try {
      const files = await this.build(job, exports);
      if (files) await exports.complete(job, files.files, files.report, files.patientIds);
    } catch (error) {
      this.deps.log.error({ jobId: job.id, errorType: (error as Error).name }, 'bulk export failed');
      await exports.fail(job, 'The export could not be completed.');
    } finally {
      await trail.flush().catch(() => {});
    }
  }

  /**
   * The files of a job, or undefined when it was cancelled on the way. The
   * kept patients are read and written a page at a time, yielding to
   * interactive requests between pages, so no single step holds the event
   * loop or a database connection for long.
   */
  private async build(job: FhirExportJob, exports: FhirExportRepository) {
    const profile = job.profile as ExportProfile;
    const wanted = new Set(job.types);
    if (!(await exports.markRunning(job.id, 'reading patients'))) return undefined;
    const today = new Date();
    const everyone = await exports.patients(profile, job.since);
    const { kept, report } = profile === 'deidentified' ? kAnonymous(everyone, this.deps.config.fhir.exportK, today) : { kept: everyone, report: undefined };
    const write = this.writer(profile);
    const lines: Record<ExportType, string[]> = { Patient: [], Encounter: [], Observation: [] };
    const since = job.since;
    let pageStarted = performance.now();
    for (let from = 0; from < kept.length; from += exportPageSize) {
      await this.giveWay(performance.now() - pageStarted);
      pageStarted = performance.now();
      if (!(await exports.markRunning(job.id, `${from} of ${kept.length} patients written`))) return undefined;
      const page = kept.slice(from, from + exportPageSize);
      if (wanted.has('Patient')) for (const patient of page) lines.Patient.push(ndjsonLine(write.patient(patient, today)));
      if (!wanted.has('Encounter') && !wanted.has('Observation')) continue;
      const cases = await exports.cases(profile, page.map((patient) => patient.id), null);
      if (wanted.has('Encounter')) {
        for (const episode of cases) if (!since || episode.openedAt >= since || (episode.closedAt && episode.closedAt >= since)) lines.Encounter.push(ndjsonLine(write.encounter(episode)));
      }
      if (!wanted.has('Observation')) continue;
      const caseById = new Map(cases.map((episode) => [episode.id, episode]));
      for (const observation of await exports.observations(profile, [...caseById.keys()], since)) lines.Observation.push(ndjsonLine(write.observation(observation, caseById.get(observation.caseId)!)));
    }
    await this.giveWay(performance.now() - pageStarted);
    const files: ExportFile[] = exportTypes.filter((type) => wanted.has(type)).map((type) => ({ type, count: lines[type].length, ndjson: lines[type].join('') }));
    return { files, report: { profile, ...(report ? { kAnonymity: report } : {}) } satisfies ExportReport, patientIds: kept.map((patient) => patient.id) };
  }

  /** Lets requests in flight run first: the next event-loop turn when there are none, else a pause in proportion to the work just done. */
  private giveWay(workMs: number): Promise<void> {
    if (this.requests.count() === 0) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => setTimeout(resolve, (workMs * (1 - shareBesideRequests)) / shareBesideRequests));
  }

  /** How each record is written for the profile. */
  private writer(profile: ExportProfile) {
    const { catalog } = this;
    const mrnSystem = this.deps.config.fhir.mrnSystem ?? defaultMrnSystem;
    if (profile === 'identified') {
      return {
        patient: (patient: Patient) => toFhirPatient(patient, mrnSystem),
        encounter: (episode: Case) => toFhirEncounter(episode),
        observation: (observation: Observation, episode: Case) => toFhirObservation(observation, episode, catalog),
      };
    }
    const pseudonyms = new Pseudonymizer(this.deps.config.fhir.pseudonymKey!);
    return {
      patient: (patient: Patient, today: Date) => deidentifiedPatient(patient, pseudonyms, today),
      encounter: (episode: Case) => deidentifiedEncounter(episode, pseudonyms),
      observation: (observation: Observation, episode: Case) => deidentifiedObservation(observation, episode, catalog, pseudonyms),
    };
  }

  /** Data access under the requester's identity, as their request had it. */
  private requesterScope(job: FhirExportJob) {
    const principal: Principal = {
      subject: job.requestedBy,
      roles: job.requestedRoles.filter(isRole),
      purposeOfUse: isPurposeOfUse(job.purposeOfUse) ? job.purposeOfUse : null,
    };
    const scope = openScope(this.deps, principal, { requestId: null, clientRequestId: null, operationName: `FHIR $export ${job.id}`, queryHash: null, clientAddress: null, userAgent: null });
    return { trail: scope.trail, exports: new FhirExportRepository(scope) };
  }
}

function ndjsonLine(resource: Resource): string {
  return `${JSON.stringify(resource)}\n`;
}
