import type { AccessRule } from '../access/owned-record-store.ts';
import { type Action, type Permission, purposeOfUseFor } from '../access/permissions.ts';
import { type Case, type FhirExportJob, type Observation, type Patient, Prisma, type PrismaClient } from '../generated/prisma/client.ts';

export type { FhirExportJob };
import type { Scope } from '../access/scope.ts';
import { type DeidentificationProfile, deidentificationProfiles, type KAnonymity } from './deidentify.ts';

export type ExportProfile = 'identified' | DeidentificationProfile;

/** A stored job's profile: an unknown one (as older jobs stored "deidentified") is held to Safe Harbor and its permission. */
export const profileOf = (job: Pick<FhirExportJob, 'profile'>): ExportProfile =>
  job.profile === 'identified' || (deidentificationProfiles as readonly string[]).includes(job.profile) ? (job.profile as ExportProfile) : 'safe-harbor';

/** What an export of a profile needs: identified data only for admins (the route also checks the purpose). */
export const exportPermission = (profile: ExportProfile): Permission => (profile === 'identified' ? 'clinical.export.identified' : 'clinical.deidentified');

export interface NewExportJob {
  level: string;
  types: string[];
  since: Date | null;
  profile: ExportProfile;
  requestUrl: string;
}

/** What the manifest reports beside the files: the profile and, de-identified, the k-anonymity figures. */
export interface ExportReport {
  profile: ExportProfile;
  kAnonymity?: KAnonymity;
}

/** A file of an export as the manifest lists it: its type and how many resources its parts hold. */
export interface ExportFile {
  type: string;
  count: number;
}

/**
 * Bulk export jobs and the data they read, as one requester may: every job
 * belongs to the subject that asked for it, reading the data needs the
 * profile's permission, and requests, completions and cancellations are
 * audited with their profile, filters and counts.
 */
export class FhirExportRepository {
  constructor(private readonly scope: Scope) {}

  createJob(job: NewExportJob): Promise<FhirExportJob> {
    const principal = this.scope.access.principal;
    return this.scope.records.write(
      exportRule(job.profile, 'fhir.export.request'),
      [],
      (tx) => tx.fhirExportJob.create({ data: { ...job, requestedBy: principal.subject, requestedRoles: principal.roles, purposeOfUse: purposeOfUseFor(principal, 'fhir.export.request') } }),
      (created) => ({ resourceIds: [created.id], reason: describe(created) }),
    );
  }

  /** The caller's own job (another subject's reads as absent). */
  findJob(id: string): Promise<FhirExportJob | null> {
    return this.scope.prisma.fhirExportJob.findFirst({ where: { id, requestedBy: this.scope.access.subject } });
  }

  /** The files of the caller's completed job (for the manifest). */
  manifestFiles(jobId: string): Promise<ExportFile[]> {
    return this.scope.prisma.fhirExportFile.findMany({ where: { jobId, job: { requestedBy: this.scope.access.subject } }, select: { type: true, count: true }, orderBy: { type: 'asc' } });
  }

  /**
   * When the files of the caller's completed job go (`retentionMs` after it
   * finished); undefined once that time has come, by the database's clock:
   * jobs finish by that clock too (see `complete`), so a process whose own
   * clock is off neither serves files past their time nor refuses them early.
   */
  async expiresAt(jobId: string, retentionMs: number): Promise<Date | undefined> {
    const [job] = await this.scope.prisma.$queryRaw<{ expires: Date }[]>`
      SELECT "finishedAt" + ${millis(retentionMs)} AS expires FROM "FhirExportJob"
       WHERE id = ${jobId}::uuid AND "requestedBy" = ${this.scope.access.subject} AND status = 'COMPLETED' AND "finishedAt" + ${millis(retentionMs)} > now()`;
    return job?.expires;
  }

  /** One file of the caller's completed job, whose parts are then read with `part`; the download is audited. */
  async file(jobId: string, type: string): Promise<ExportFile | null> {
    const found = await this.scope.prisma.fhirExportFile.findFirst({
      where: { jobId, type, job: { requestedBy: this.scope.access.subject, status: 'COMPLETED' } },
      select: { type: true, count: true },
    });
    if (!found) return null;
    this.scope.trail.note({ action: 'fhir.export.download', resourceType: 'FhirExportJob', resourceIds: [jobId], reason: `type=${type}` });
    return found;
  }

  /**
   * The NDJSON of part `seq` (from 0) of a file that `file` found the
   * caller's; null past its last part (or once the job was cancelled, which
   * deletes them). By key alone: rechecking the job at every part cost more
   * CPU than reading the part.
   */
  async part(jobId: string, type: string, seq: number): Promise<string | null> {
    const found = await this.scope.prisma.fhirExportPart.findUnique({ where: { jobId_type_seq: { jobId, type, seq } }, select: { ndjson: true } });
    return found?.ndjson ?? null;
  }

  /**
   * Stores the next part of a running job's file (the job's own runner
   * writes them, as it goes); false, storing nothing, once the job was
   * cancelled or another runner took it over, so neither leaves a part
   * behind or clashes with the new owner's.
   */
  async writePart(jobId: string, owner: string, type: string, seq: number, ndjson: string): Promise<boolean> {
    const stored = await this.scope.prisma.$executeRaw`
      INSERT INTO "FhirExportPart" ("jobId", "type", "seq", "ndjson")
      SELECT ${jobId}::uuid, ${type}, ${seq}, ${ndjson}
      WHERE EXISTS (SELECT 1 FROM "FhirExportJob" WHERE id = ${jobId}::uuid AND status = 'RUNNING' AND owner = ${owner})`;
    return stored === 1;
  }

  /** Deletes what a job wrote of its files (before it runs again from the start, or when it did not complete), unless another runner holds the job now. */
  async deleteParts(jobId: string, owner: string): Promise<void> {
    await this.scope.prisma.fhirExportPart.deleteMany({ where: { jobId, job: { owner } } });
  }

  /**
   * Takes a queued or running job for the runner `owner` for `leaseMs`: a
   * job no runner holds, or whose runner's lease ran out (its process
   * stopped or hangs); false when it is finished or another runner holds it.
   * Leases are set and judged by the database's clock, the one clock every
   * process shares: a process whose own clock runs ahead would take live
   * jobs, one whose clock runs behind would set leases already over.
   */
  async claim(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const claimed = await this.scope.prisma.$executeRaw`
      UPDATE "FhirExportJob" SET owner = ${owner}, "leaseUntil" = now() + ${leaseMs}::int * interval '1 millisecond'
       WHERE id = ${id}::uuid AND status IN ('QUEUED', 'RUNNING') AND (owner IS NULL OR owner = ${owner} OR "leaseUntil" < now())`;
    return claimed === 1;
  }

  /** Cancels a job and deletes its files; false when it is not the caller's. */
  async cancel(id: string): Promise<boolean> {
    const job = await this.findJob(id);
    if (!job) return false;
    await this.scope.records.write(
      exportRule(profileOf(job), 'fhir.export.cancel'),
      [],
      async (tx) => {
        await tx.fhirExportFile.deleteMany({ where: { jobId: id } });
        await tx.fhirExportPart.deleteMany({ where: { jobId: id } });
        await tx.$executeRaw`UPDATE "FhirExportJob" SET status = 'CANCELLED', "finishedAt" = now() WHERE id = ${id}::uuid`;
      },
      () => ({ resourceIds: [id] }),
    );
    return true;
  }

  /** Marks a job running and renews its runner's lease for `leaseMs` (by the database's clock, as `claim`); false once it was cancelled or another runner took it over. */
  async markRunning(id: string, owner: string, progress: string, leaseMs: number): Promise<boolean> {
    const renewed = await this.scope.prisma.$executeRaw`
      UPDATE "FhirExportJob" SET status = 'RUNNING', progress = ${progress}, "leaseUntil" = now() + ${leaseMs}::int * interval '1 millisecond'
       WHERE id = ${id}::uuid AND owner = ${owner} AND status IN ('QUEUED', 'RUNNING')`;
    return renewed === 1;
  }

  /**
   * Lists the files (their parts are stored already) with the report, and
   * audits the export with the patients it holds (nothing if it was cancelled
   * or taken over meanwhile). The job finishes at the database's `now()`,
   * the clock its files' expiry is judged by (see `expiresAt`).
   */
  complete(job: FhirExportJob, owner: string, files: ExportFile[], report: ExportReport, patientIds: string[]): Promise<boolean> {
    return this.scope.records.write(
      exportRule(profileOf(job), 'fhir.export'),
      [],
      async (tx) => {
        const count = await tx.$executeRaw`
          UPDATE "FhirExportJob" SET status = 'COMPLETED', progress = 'done', report = ${JSON.stringify(report)}::jsonb, "finishedAt" = now(), "leaseUntil" = NULL
           WHERE id = ${job.id}::uuid AND owner = ${owner} AND status = 'RUNNING'`;
        if (count === 1) await tx.fhirExportFile.createMany({ data: files.map((file) => ({ ...file, jobId: job.id })) });
        return count === 1;
      },
      (completed) => (completed ? { resourceIds: [job.id], patientIds, reason: `${describe(job)} counts=${files.map((f) => `${f.type}:${f.count}`).join(',')}` } : null),
    );
  }

  /** Marks the runner's job failed and deletes what it wrote (nothing when another runner holds it now). */
  async fail(job: FhirExportJob, owner: string, error: string): Promise<void> {
    await this.deleteParts(job.id, owner);
    const count = await this.scope.prisma.$executeRaw`
      UPDATE "FhirExportJob" SET status = 'FAILED', error = ${error}, "finishedAt" = now(), "leaseUntil" = NULL
       WHERE id = ${job.id}::uuid AND owner = ${owner} AND status IN ('QUEUED', 'RUNNING')`;
    if (count === 1) this.scope.trail.failed('fhir.export', error, { resourceType: 'FhirExportJob', resourceIds: [job.id] });
  }

  /**
   * A page of the active patients for an export of the profile, in the order they were created, after the patient `after`;
   * when `since` is given, those with a record changed since: themselves, a case opened or closed, or an observation added.
   */
  patients(profile: ExportProfile, since: Date | null, after: string | undefined, take: number): Promise<Patient[]> {
    this.scope.access.require(exportPermission(profile), 'fhir.export');
    const changed = since && {
      OR: [
        { updatedAt: { gte: since } },
        { cases: { some: { OR: [{ openedAt: { gte: since } }, { closedAt: { gte: since } }, { observations: { some: { createdAt: { gte: since } } } }] } } },
      ],
    };
    return this.scope.prisma.patient.findMany({
      where: { archivedAt: null, ...changed },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      ...(after ? { cursor: { id: after }, skip: 1 } : {}),
      take,
    });
  }

  cases(profile: ExportProfile, patientIds: string[], since: Date | null): Promise<Case[]> {
    this.scope.access.require(exportPermission(profile), 'fhir.export');
    const changed = since ? { OR: [{ openedAt: { gte: since } }, { closedAt: { gte: since } }] } : {};
    return this.scope.prisma.case.findMany({ where: { patientId: { in: patientIds }, ...changed }, orderBy: { openedAt: 'asc' } });
  }

  observations(profile: ExportProfile, caseIds: string[], since: Date | null): Promise<Observation[]> {
    this.scope.access.require(exportPermission(profile), 'fhir.export');
    return this.scope.prisma.observation.findMany({ where: { caseId: { in: caseIds }, ...(since ? { createdAt: { gte: since } } : {}) }, orderBy: [{ observedAt: 'asc' }, { id: 'asc' }] });
  }
}

/**
 * The unfinished jobs no live runner holds, oldest first: those no runner
 * took yet, and those whose runner's lease ran out by the database's clock
 * (see `claim`). A system task of the export runner, which then claims each.
 */
export async function unheldUnfinishedJobs(prisma: PrismaClient): Promise<FhirExportJob[]> {
  const unheld = await prisma.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM "FhirExportJob"
     WHERE status IN ('QUEUED', 'RUNNING') AND (owner IS NULL OR "leaseUntil" < now())`;
  if (unheld.length === 0) return [];
  return prisma.fhirExportJob.findMany({ where: { id: { in: unheld.map((job) => job.id) } }, orderBy: { createdAt: 'asc' } });
}

/**
 * Expires the oldest completed export that finished over `retentionMs` ago
 * by the database's clock (the one `complete` and `expiresAt` use): its
 * files and their parts are deleted and it is marked EXPIRED, in one
 * transaction (a system task of the export runner, under no requester's
 * identity: only what the requester was given goes). False when there is none.
 */
export async function expireOldestExport(prisma: PrismaClient, retentionMs: number): Promise<boolean> {
  const [job] = await prisma.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM "FhirExportJob" WHERE status = 'COMPLETED' AND "finishedAt" + ${millis(retentionMs)} <= now() ORDER BY "finishedAt" LIMIT 1`;
  if (!job) return false;
  await prisma.$transaction([
    prisma.fhirExportPart.deleteMany({ where: { jobId: job.id } }),
    prisma.fhirExportFile.deleteMany({ where: { jobId: job.id } }),
    prisma.fhirExportJob.updateMany({ where: { id: job.id, status: 'COMPLETED' }, data: { status: 'EXPIRED' } }),
  ]);
  return true;
}

/** An interval of `ms` milliseconds in SQL (bigint: a retention of a year of hours overflows int). */
function millis(ms: number): Prisma.Sql {
  return Prisma.sql`(${ms}::bigint * interval '1 millisecond')`;
}

/** The audit and access terms of an export's writes: the profile's permission, the job as the resource. */
function exportRule(profile: ExportProfile, action: Action): AccessRule {
  return { permission: exportPermission(profile), action, resourceType: 'FhirExportJob' };
}

/** The profile and filters of a job, for its audit records (no clinical values). */
function describe(job: Pick<FhirExportJob, 'profile' | 'level' | 'types' | 'since'>): string {
  return `profile=${job.profile} level=${job.level} types=${job.types.join(',')}${job.since ? ` since=${job.since.toISOString()}` : ''}`;
}
