import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Coding } from '@medplum/fhirtypes';
import { isPurposeOfUse, isRole, type Principal } from '../access/principal.ts';
import { openScope } from '../access/scope.ts';
import type { Case, Observation } from '../cases/case.repository.ts';
import type { Patient } from '../patients/patient.repository.ts';
import type { FhirExportJob } from './fhir-export.repository.ts';
import type { ContextDeps } from '../server/context.ts';
import type { CodeCatalog } from './code-catalog.ts';
import { DutyCycle, type InteractiveRequests } from './duty-cycle.ts';
import { deidentifiedEncounter, deidentifiedObservation, deidentifiedPatient, Deidentifier, Pseudonymizer, QuasiIdentifierGroups } from './deidentify.ts';
import { type ExportPart, ExportParts } from './export-parts.ts';
import { FhirObservationCodingRepository } from './fhir-observation-coding.repository.ts';
import { type ExportProfile, type ExportReport, expireOldestExport, FhirExportRepository, profileOf, unheldUnfinishedJobs } from './fhir-export.repository.ts';
import { defaultMrnSystem, toFhirEncounter, toFhirObservation, toFhirPatient } from './fhir-resources.ts';

/** Resource types a bulk export holds, in the order it writes them. */
export const exportTypes = ['Patient', 'Encounter', 'Observation'] as const;

/**
 * Patients an export reads in one step, to measure k-anonymity over them.
 * Each step holds the event loop for its JavaScript, and a read that meets
 * it waits that long, so the longest step bounds what an export adds to a
 * read's latency: 200 patients took 17-22 ms (BENCHMARKS.md, issue 13).
 */
const patientPageSize = 100;
/** Patients an export writes in one step (with their cases and observations): the longest step, 10-19 ms of CPU for 10 under load, so 5. */
const exportStepSize = 5;
/** How often a running export records its progress, renews its lease and looks for a cancellation. */
const progressIntervalMs = 1000;
/**
 * How long a runner holds a job without renewing its lease: far longer than
 * the renewals' interval, a paced step and its rest, so only a runner whose
 * process stopped (or hangs) loses its jobs to another. Another process
 * looks for such jobs at its start and every `leaseMs`.
 */
const leaseMs = 60_000;

/**
 * Runs bulk exports in the background of this process, one at a time, under
 * the requester's identity (the same access checks and audit records as the
 * request), in small steps paced by a duty cycle (FHIR_EXPORT_WORK_MS of
 * every FHIR_EXPORT_PERIOD_MS while interactive requests come in), so a
 * running export slows them little. Jobs are rows in
 * the database, each held by one runner (`owner`) under a lease it renews as
 * it works: a job whose runner stopped is taken over, once its lease has run
 * out by the database's clock, by the next runner to look (at its start, then every `leaseMs`), and
 * a job another live process runs is left to it.
 */
export class BulkExportRunner {
  private queue: Promise<void> = Promise.resolve();
  /** This runner, as the jobs it holds name it: host and process, for operators, and a random part, unique. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  private housekeeping: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: ContextDeps,
    private readonly catalog: CodeCatalog,
    private readonly requests: InteractiveRequests,
  ) {}

  /** Queues a job; it runs after the ones before it. */
  start(job: FhirExportJob): void {
    this.queue = this.queue.then(() => this.run(job)).catch((error: unknown) => this.deps.log.error({ jobId: job.id, errorType: (error as Error).name }, 'bulk export failed'));
  }

  /** Queues the unfinished jobs no live runner holds: those no runner took yet, and those whose runner's lease ran out. */
  async resumeUnfinished(): Promise<void> {
    for (const job of await unheldUnfinishedJobs(this.deps.db.prisma)) this.start(job);
  }

  /** Expires old exports now, then every `leaseMs` (until `close`) resumes abandoned jobs and expires old exports. */
  startHousekeeping(): void {
    const expire = () => void this.expireOld().catch((error: unknown) => this.deps.log.warn({ errorType: (error as Error).name }, 'expired bulk exports not deleted'));
    expire();
    this.housekeeping = setInterval(() => {
      this.resumeUnfinished().catch((error: unknown) => this.deps.log.warn({ errorType: (error as Error).name }, 'abandoned bulk exports not resumed'));
      expire();
    }, leaseMs);
    this.housekeeping.unref();
  }

  /**
   * Deletes the files of every completed export older than
   * FHIR_EXPORT_RETENTION_HOURS by the database's clock (identified NDJSON
   * must not stay forever), one export a step of the duty cycle; resolves
   * with how many expired.
   */
  async expireOld(): Promise<number> {
    const pace = this.pacing();
    let expired = 0;
    while (await pace.step(() => expireOldestExport(this.deps.db.prisma, this.deps.config.fhir.exportRetentionMs))) expired++;
    return expired;
  }

  /** Stops the housekeeping and resolves when every queued job has finished (shutdown). */
  close(): Promise<void> {
    clearInterval(this.housekeeping);
    return this.idle();
  }

  /** Resolves when every queued job has finished (shutdown, tests). */
  idle(): Promise<void> {
    return this.queue;
  }

  /** A duty cycle for one piece of background export work (a job, a file's download). */
  pacing(): DutyCycle {
    return new DutyCycle(this.deps.config.fhir.exportPacing, this.requests);
  }

  private async run(job: FhirExportJob): Promise<void> {
    const { trail, exports, codings } = this.requesterScope(job);
    const { owner } = this;
    try {
      const pace = this.pacing();
      // Finished meanwhile, or another live runner holds it: not this runner's to run.
      if (!(await pace.step(() => exports.claim(job.id, owner, leaseMs)))) return;
      // A job a stopped server left unfinished starts over: what it had written goes.
      await pace.step(() => exports.deleteParts(job.id, owner));
      const built = await this.build(job, exports, codings, pace);
      const completed = built !== undefined && (await pace.step(() => exports.complete(job, owner, built.files, built.report, built.patientIds)));
      if (!completed) await exports.deleteParts(job.id, owner);
    } catch (error) {
      this.deps.log.error({ jobId: job.id, errorType: (error as Error).name }, 'bulk export failed');
      await exports.fail(job, owner, 'The export could not be completed.');
    } finally {
      await trail.flush().catch(() => {});
    }
  }

  /**
   * Writes the parts of a job's files and tells what the manifest lists, or
   * undefined when the job was cancelled on the way. Every read and write is
   * a small step of the duty cycle (a page of patients read and counted into
   * their k-anonymity groups, a few patients written, a part of at most about
   * `partChars` stored), so no step holds the event loop or a database
   * connection for long and the export as a whole takes only its share of
   * the process and database.
   */
  private async build(job: FhirExportJob, exports: FhirExportRepository, codings: FhirObservationCodingRepository, pace: DutyCycle) {
    const profile = profileOf(job);
    const types = exportTypes.filter((type) => job.types.includes(type));
    const wanted = new Set<string>(types);
    let reported = performance.now();
    /** Records progress and renews the lease (and sees a cancellation or a takeover) about once a second; false once the job is no longer this runner's to run. */
    const stillRunning = async (progress: string, now = false) => {
      if (!now && performance.now() - reported < progressIntervalMs) return true;
      reported = performance.now();
      return pace.step(() => exports.markRunning(job.id, this.owner, progress, leaseMs));
    };
    /** Stores parts one step each; false once the job was cancelled or taken over. */
    const store = async (parts: ExportPart[]) => {
      for (const part of parts) if (!(await pace.step(() => exports.writePart(job.id, this.owner, part.type, part.seq, part.ndjson)))) return false;
      return true;
    };
    if (!(await stillRunning('reading patients', true))) return undefined;
    const today = new Date();
    const k = this.deps.config.fhir.exportK;
    const groups = profile !== 'identified' ? new QuasiIdentifierGroups(today) : undefined;
    const everyone = await this.allPatients(job, exports, pace, groups, stillRunning);
    if (!everyone) return undefined;
    const write = this.writer(profile);
    const output = new ExportParts(types);
    const exported: string[] = [];
    const since = job.since;
    for (let from = 0; from < everyone.length; from += exportStepSize) {
      if (!(await stillRunning(`${from} of ${everyone.length} patients written`))) return undefined;
      const page = everyone.slice(from, from + exportStepSize).filter((patient) => !groups || groups.keeps(patient, k));
      if (page.length === 0) continue;
      exported.push(...page.map((patient) => patient.id));
      await pace.step(async () => {
        if (wanted.has('Patient')) for (const patient of page) if (!since || patient.updatedAt >= since) output.add('Patient', write.patient(patient, today));
        if (!wanted.has('Encounter') && !wanted.has('Observation')) return;
        const cases = await exports.cases(profile, page.map((patient) => patient.id), null);
        if (wanted.has('Encounter')) {
          for (const episode of cases) if (!since || episode.openedAt >= since || (episode.closedAt && episode.closedAt >= since)) output.add('Encounter', write.encounter(episode));
        }
        if (!wanted.has('Observation')) return;
        const caseById = new Map(cases.map((episode) => [episode.id, episode]));
        const observations = await exports.observations(profile, [...caseById.keys()], since);
        const ids = observations.map((observation) => observation.id);
        const sent = await codings.of(ids);
        const values = profile !== 'identified' ? await codings.valueCodingsOf(ids) : new Map<string, Coding>();
        for (const observation of observations) output.add('Observation', write.observation(observation, caseById.get(observation.caseId)!, sent.get(observation.id), values.get(observation.id)));
      });
      if (!(await store(output.take()))) return undefined;
    }
    if (!(await store(output.take(true)))) return undefined;
    return { files: output.files(), report: { profile, ...(groups ? { kAnonymity: groups.report(k) } : {}) } satisfies ExportReport, patientIds: exported };
  }

  /** Every patient the export may hold, read a page at a time and counted into their k-anonymity groups (measured over all of them before any is written); undefined once the job is no longer this runner's. */
  private async allPatients(
    job: FhirExportJob,
    exports: FhirExportRepository,
    pace: DutyCycle,
    groups: QuasiIdentifierGroups | undefined,
    stillRunning: (progress: string) => Promise<boolean>,
  ): Promise<Patient[] | undefined> {
    const everyone: Patient[] = [];
    for (;;) {
      if (!(await stillRunning(`${everyone.length} patients read`))) return undefined;
      const page = await pace.step(async () => {
        const read = await exports.patients(profileOf(job), job.since, everyone.at(-1)?.id, patientPageSize);
        groups?.add(read);
        return read;
      });
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
        observation: (observation: Observation, episode: Case, sent?: Coding[]) => toFhirObservation(observation, episode, catalog, sent),
      };
    }
    const pseudonyms = new Deidentifier(profile, new Pseudonymizer(this.deps.config.fhir.pseudonymKey!));
    return {
      patient: (patient: Patient, today: Date) => deidentifiedPatient(patient, pseudonyms, today),
      encounter: (episode: Case) => deidentifiedEncounter(episode, pseudonyms),
      observation: (observation: Observation, episode: Case, sent?: Coding[], value?: Coding) => deidentifiedObservation(observation, episode, catalog, pseudonyms, sent, value),
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
    return { trail: scope.trail, exports: new FhirExportRepository(scope), codings: new FhirObservationCodingRepository(scope) };
  }
}
