import type { Resource } from '@medplum/fhirtypes';
import { isPurposeOfUse, isRole, type Principal } from '../access/principal.ts';
import { openScope } from '../access/scope.ts';
import type { Case, Observation } from '../cases/case.repository.ts';
import type { Patient } from '../patients/patient.repository.ts';
import type { FhirExportJob } from './fhir-export.repository.ts';
import type { ContextDeps } from '../server/context.ts';
import type { RequestsInFlight } from '../server/requests-in-flight.ts';
import type { CodeCatalog } from './code-catalog.ts';
import { DutyCycle } from './duty-cycle.ts';
import { deidentifiedEncounter, deidentifiedObservation, deidentifiedPatient, kAnonymous, Pseudonymizer } from './deidentify.ts';
import { type ExportFile, type ExportProfile, type ExportReport, FhirExportRepository } from './fhir-export.repository.ts';
import { defaultMrnSystem, toFhirEncounter, toFhirObservation, toFhirPatient } from './fhir-resources.ts';

/** Resource types a bulk export holds, in the order it writes them. */
export const exportTypes = ['Patient', 'Encounter', 'Observation'] as const;
type ExportType = (typeof exportTypes)[number];

/** Patients an export reads in one step, to measure k-anonymity over them. */
const patientPageSize = 200;
/** Patients an export writes in one step (with their cases and observations): a few milliseconds of work. */
const exportStepSize = 10;
/** How often a running export records its progress and looks for a cancellation. */
const progressIntervalMs = 1000;

/**
 * Runs bulk exports in the background of this process, one at a time, under
 * the requester's identity (the same access checks and audit records as the
 * request), in small steps paced by a duty cycle (FHIR_EXPORT_WORK_MS of
 * every FHIR_EXPORT_PERIOD_MS while interactive requests come in), so a
 * running export slows them little. Jobs are rows in
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
      const pace = new DutyCycle(this.deps.config.fhir.exportPacing, this.requests);
      const files = await this.build(job, exports, pace);
      if (files) await pace.step(() => exports.complete(job, files.files, files.report, files.patientIds));
    } catch (error) {
      this.deps.log.error({ jobId: job.id, errorType: (error as Error).name }, 'bulk export failed');
      await exports.fail(job, 'The export could not be completed.');
    } finally {
      await trail.flush().catch(() => {});
    }
  }

  /**
   * The files of a job, or undefined when it was cancelled on the way. Every
   * read and write is a small step of the duty cycle, so no step holds the
   * event loop or a database connection for long and the export as a whole
   * takes only its share of the process and database.
   */
  private async build(job: FhirExportJob, exports: FhirExportRepository, pace: DutyCycle) {
    const profile = job.profile as ExportProfile;
    const wanted = new Set(job.types);
    let reported = performance.now();
    /** Records progress (and sees a cancellation) about once a second; false once the job was cancelled. */
    const stillRunning = async (progress: string, now = false) => {
      if (!now && performance.now() - reported < progressIntervalMs) return true;
      reported = performance.now();
      return pace.step(() => exports.markRunning(job.id, progress));
    };
    if (!(await stillRunning('reading patients', true))) return undefined;
    const everyone = await this.allPatients(job, exports, pace);
    const today = new Date();
    const { kept, report } = profile === 'deidentified' ? kAnonymous(everyone, this.deps.config.fhir.exportK, today) : { kept: everyone, report: undefined };
    const write = this.writer(profile);
    const lines: Record<ExportType, string[]> = { Patient: [], Encounter: [], Observation: [] };
    const since = job.since;
    for (let from = 0; from < kept.length; from += exportStepSize) {
      if (!(await stillRunning(`${from} of ${kept.length} patients written`))) return undefined;
      const page = kept.slice(from, from + exportStepSize);
      await pace.step(async () => {
        if (wanted.has('Patient')) for (const patient of page) if (!since || patient.updatedAt >= since) lines.Patient.push(ndjsonLine(write.patient(patient, today)));
        if (!wanted.has('Encounter') && !wanted.has('Observation')) return;
        const cases = await exports.cases(profile, page.map((patient) => patient.id), null);
        if (wanted.has('Encounter')) {
          for (const episode of cases) if (!since || episode.openedAt >= since || (episode.closedAt && episode.closedAt >= since)) lines.Encounter.push(ndjsonLine(write.encounter(episode)));
        }
        if (!wanted.has('Observation')) return;
        const caseById = new Map(cases.map((episode) => [episode.id, episode]));
        for (const observation of await exports.observations(profile, [...caseById.keys()], since)) lines.Observation.push(ndjsonLine(write.observation(observation, caseById.get(observation.caseId)!)));
      });
    }
    if (!(await stillRunning('writing files', true))) return undefined;
    const files: ExportFile[] = exportTypes.filter((type) => wanted.has(type)).map((type) => ({ type, count: lines[type].length, ndjson: lines[type].join('') }));
    return { files, report: { profile, ...(report ? { kAnonymity: report } : {}) } satisfies ExportReport, patientIds: kept.map((patient) => patient.id) };
  }

  /** Every patient the export may hold, read a page at a time (k-anonymity is measured over all of them before any is written). */
  private async allPatients(job: FhirExportJob, exports: FhirExportRepository, pace: DutyCycle): Promise<Patient[]> {
    const everyone: Patient[] = [];
    for (;;) {
      const page = await pace.step(() => exports.patients(job.profile as ExportProfile, job.since, everyone.at(-1)?.id, patientPageSize));
      everyone.push(...page);
      if (page.length < patientPageSize) return everyone;
    }
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
