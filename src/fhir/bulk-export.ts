import type { Resource } from '@medplum/fhirtypes';
import { isPurposeOfUse, isRole, type Principal } from '../access/principal.ts';
import { openScope } from '../access/scope.ts';
import type { Case, Observation } from '../cases/case.repository.ts';
import type { Patient } from '../patients/patient.repository.ts';
import type { FhirExportJob } from './fhir-export.repository.ts';
import type { ContextDeps } from '../server/context.ts';
import type { CodeCatalog } from './code-catalog.ts';
import { deidentifiedEncounter, deidentifiedObservation, deidentifiedPatient, kAnonymous, Pseudonymizer } from './deidentify.ts';
import { type ExportFile, type ExportProfile, type ExportReport, FhirExportRepository } from './fhir-export.repository.ts';
import { defaultMrnSystem, toFhirEncounter, toFhirObservation, toFhirPatient } from './fhir-resources.ts';

/** Resource types a bulk export holds, in the order it writes them. */
export const exportTypes = ['Patient', 'Encounter', 'Observation'] as const;

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

  /** The files of a job, or undefined when it was cancelled on the way. */
  private async build(job: FhirExportJob, exports: FhirExportRepository) {
    const profile = job.profile as ExportProfile;
    const wanted = new Set(job.types);
    if (!(await exports.markRunning(job.id, 'reading patients'))) return undefined;
    const today = new Date();
    const everyone = await exports.patients(profile, job.since);
    const deidentified = profile === 'deidentified';
    const { kept, report } = deidentified ? kAnonymous(everyone, this.deps.config.fhir.exportK, today) : { kept: everyone, report: undefined };
    await yieldToRequests();
    if (!(await exports.markRunning(job.id, 'reading cases'))) return undefined;
    const patientIds = kept.map((patient) => patient.id);
    const cases = await exports.cases(profile, patientIds, null);
    const observations = wanted.has('Observation') ? await exports.observations(profile, cases.map((c) => c.id), job.since) : [];
    await yieldToRequests();
    if (!(await exports.markRunning(job.id, 'writing files'))) return undefined;
    const casesSince = job.since ? cases.filter((c) => c.openedAt >= job.since! || (c.closedAt && c.closedAt >= job.since!)) : cases;
    const write = this.writer(profile);
    const caseById = new Map(cases.map((episode) => [episode.id, episode]));
    const files: ExportFile[] = [
      file('Patient', wanted.has('Patient') ? kept.map((patient) => write.patient(patient, today)) : []),
      file('Encounter', wanted.has('Encounter') ? casesSince.map((episode) => write.encounter(episode)) : []),
      file('Observation', observations.map((observation) => write.observation(observation, caseById.get(observation.caseId)!))),
    ].filter((f) => wanted.has(f.type));
    return { files, report: { profile, ...(report ? { kAnonymity: report } : {}) } satisfies ExportReport, patientIds };
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

function file(type: string, resources: Resource[]): ExportFile {
  return { type, count: resources.length, ndjson: resources.map((resource) => `${JSON.stringify(resource)}\n`).join('') };
}

const yieldToRequests = () => new Promise((resolve) => setImmediate(resolve));
