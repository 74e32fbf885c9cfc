import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { startServer } from '../../src/server/start.ts';
import { startTestServer, testServerEnv } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';
import { ehrBundle } from './ehr-bundles.ts';
import { fhirClient, interfaceEngine } from './fhir-client.ts';

// Two server processes on one database need a database server: the embedded one belongs to a single process.
const shared = Boolean(process.env.DATABASE_URL);
const settings = { FHIR_EXPORT_PSEUDONYM_KEY: 'test-pseudonym-key-0123456789abcdef0123' };

describe('FHIR bulk export jobs with two server processes on one database', () => {
  it('leaves a job another live process runs to it, and takes over one whose process stopped', { skip: !shared && 'needs DATABASE_URL (PostgreSQL)' }, async () => {
    const first = await startTestServer(settings);
    const prisma = first.server.db.prisma;
    const imported = await fhirClient(first, interfaceEngine)('', { body: ehrBundle('LEASE', 20) });
    assert.equal(imported.status, 200);
    const job = (id: string) => prisma.fhirExportJob.findUniqueOrThrow({ where: { id } });

    // A job whose process stopped mid-export: its lease ran out, and a part it wrote is left.
    const abandoned = await prisma.fhirExportJob.create({
      data: {
        ...{ level: 'system', types: ['Patient'], profile: 'identified', requestUrl: 'abandoned', requestedBy: people.admin.sub, requestedRoles: ['admin'], purposeOfUse: 'HOPERAT' },
        ...{ status: 'RUNNING', owner: 'gone:1:stopped', leaseUntil: new Date(Date.now() - 1000) },
      },
    });
    await prisma.fhirExportPart.create({ data: { jobId: abandoned.id, type: 'Patient', seq: 0, ndjson: '{"stale":true}\n' } });

    // The first process runs an export, slowly: a request held in flight makes it wait a period before each step.
    const url = new URL(first.url);
    const held = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
    held.on('error', () => {});
    held.write('{"query":');
    let runningId = '';
    try {
      const kickOff = await fhirClient(first, people.admin)('/$export?_type=Patient', { headers: { prefer: 'respond-async', 'x-purpose-of-use': 'HOPERAT' } });
      assert.equal(kickOff.status, 202);
      runningId = kickOff.headers.get('content-location')!.split('/').at(-1)!;
      let running = await job(runningId);
      for (let i = 0; running.status !== 'RUNNING' && i < 100; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        running = await job(runningId);
      }
      assert.equal(running.status, 'RUNNING');
      assert.equal(running.owner, first.server.app.fhirExports.owner);

      // The second process starts while the first one's export runs: it looks for unfinished jobs.
      const second = await startServer(loadConfig({ ...(await testServerEnv(first.database)), ...settings }), pino({ level: 'silent' }));
      after(() => second.stop());
      await second.app.fhirExports.idle();
      const resumed = await job(abandoned.id);
      assert.equal(resumed.status, 'COMPLETED');
      assert.equal(resumed.owner, second.app.fhirExports.owner);
      const parts = await prisma.fhirExportPart.findMany({ where: { jobId: abandoned.id }, orderBy: { seq: 'asc' } });
      assert.ok(parts.every((part) => !part.ndjson.includes('stale')), 'the abandoned job was not run again from the start');
      assert.deepEqual(await prisma.fhirExportFile.findMany({ where: { jobId: abandoned.id }, select: { type: true, count: true } }), [{ type: 'Patient', count: 20 }]);

      // The first process's export was left to it: still its own, and it completes once, with every patient.
      assert.equal((await job(runningId)).owner, first.server.app.fhirExports.owner);
    } finally {
      held.destroy();
    }
    await first.server.app.fhirExports.idle();
    const finished = await job(runningId);
    assert.equal(finished.status, 'COMPLETED');
    assert.equal(finished.owner, first.server.app.fhirExports.owner);
    assert.deepEqual(await prisma.fhirExportFile.findMany({ where: { jobId: runningId }, select: { type: true, count: true } }), [{ type: 'Patient', count: 20 }]);
    const completions = await prisma.auditEvent.count({ where: { action: 'fhir.export', resourceIds: { has: runningId } } });
    assert.equal(completions, 1);
  });
});

/** Makes this process's clock run `offsetMs` off (Date.now and new Date()) until the returned function restores it: a replica with a skewed clock. */
function skewClock(offsetMs: number): () => void {
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...(args as [string]));
    }
    static override now() {
      return RealDate.now() + offsetMs;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
  return () => {
    globalThis.Date = RealDate;
  };
}

describe('FHIR bulk export leases', () => {
  // The embedded database runs in this process, on its clock (PGlite's now() is Date.now()): only a database server has a clock of its own.
  it('are set and judged by the database\'s clock: a process whose clock runs ahead leaves a live lease alone, one whose clock runs behind takes a lease that ran out', { skip: !shared && 'needs DATABASE_URL (PostgreSQL)' }, async () => {
    const api = await startTestServer(settings);
    const prisma = api.server.db.prisma;
    const runner = api.server.app.fhirExports;
    const leasedJob = async (owner: string, leaseFromNow: string) => {
      const job = await prisma.fhirExportJob.create({
        data: { level: 'system', types: ['Patient'], profile: 'identified', requestUrl: 'lease', requestedBy: people.admin.sub, requestedRoles: ['admin'], purposeOfUse: 'HOPERAT', status: 'RUNNING', owner },
      });
      await prisma.$executeRawUnsafe(`UPDATE "FhirExportJob" SET "leaseUntil" = now() + interval '${leaseFromNow}' WHERE id = $1::uuid`, job.id);
      return job.id;
    };
    const resumeWithClockOff = async (offsetMs: number) => {
      const restore = skewClock(offsetMs);
      try {
        await runner.resumeUnfinished();
        await runner.idle();
      } finally {
        restore();
      }
    };

    // Another process holds this job for 30 s more, by the database's clock; this one's clock runs 5 minutes ahead.
    const live = await leasedJob('other:1:live', '30 seconds');
    await resumeWithClockOff(5 * 60_000);
    const untouched = await prisma.fhirExportJob.findUniqueOrThrow({ where: { id: live } });
    assert.deepEqual([untouched.owner, untouched.status], ['other:1:live', 'RUNNING'], 'the live lease was left to its holder');

    // Its holder stopped a second ago, by the database's clock; this process's clock runs 5 minutes behind.
    const lapsed = await leasedJob('other:2:stopped', '-1 second');
    await resumeWithClockOff(-5 * 60_000);
    const resumed = await prisma.fhirExportJob.findUniqueOrThrow({ where: { id: lapsed } });
    assert.deepEqual([resumed.owner, resumed.status], [runner.owner, 'COMPLETED'], 'the lapsed lease was taken over and the job run');
    await prisma.fhirExportJob.update({ where: { id: live }, data: { status: 'CANCELLED' } });
  });
});


describe('FHIR bulk export retention', () => {
  // As for leases: only a database server has a clock apart from this process's.
  it('is measured by the database\'s clock: an export finishes at its now(), a process whose clock runs ahead still serves it, one whose clock runs behind refuses and deletes it once it is over', { skip: !shared && 'needs DATABASE_URL (PostgreSQL)' }, async () => {
    const api = await startTestServer(settings);
    const prisma = api.server.db.prisma;
    const runner = api.server.app.fhirExports;
    assert.equal((await fhirClient(api, interfaceEngine)('', { body: ehrBundle('RETAIN', 2) })).status, 200);
    const admin = fhirClient(api, people.admin);
    const operations = { 'x-purpose-of-use': 'HOPERAT' };
    const withClockOff = async <T>(offsetMs: number, work: () => Promise<T>): Promise<T> => {
      const restore = skewClock(offsetMs);
      try {
        return await work();
      } finally {
        restore();
      }
    };

    // This process's clock runs an hour behind while it runs the export: the job still finishes at the database's now().
    const statusPath = await withClockOff(-3_600_000, async () => {
      const kickOff = await admin('/$export?_type=Patient', { headers: { prefer: 'respond-async', ...operations } });
      assert.equal(kickOff.status, 202);
      await runner.idle();
      return new URL(kickOff.headers.get('content-location')!).pathname.replace(/^\/fhir\/R4/, '');
    });
    const jobId = statusPath.split('/').at(-1)!;
    const [finished] = await prisma.$queryRaw<{ lagSeconds: number; expires: Date }[]>`
      SELECT extract(epoch FROM now() - "finishedAt")::float8 AS "lagSeconds", "finishedAt" + interval '24 hours' AS expires FROM "FhirExportJob" WHERE id = ${jobId}::uuid AND status = 'COMPLETED'`;
    assert.ok(finished && Math.abs(finished.lagSeconds) < 60, `finished ${finished?.lagSeconds} s before the database's now()`);

    // Its clock runs a day and an hour ahead: the export, done a moment ago by the database's clock, is served and kept.
    await withClockOff(25 * 3_600_000, async () => {
      const status = await admin(statusPath, { headers: operations });
      assert.equal(status.status, 200);
      assert.equal(status.headers.get('expires'), finished.expires.toUTCString());
      assert.equal((await fetch(status.body.output[0].url, { headers: { authorization: `Bearer ${await signToken(people.admin)}`, ...operations } })).status, 200);
      assert.equal(await runner.expireOld(), 0);
    });

    // It finished 25 hours ago by the database's clock; this process's clock runs two hours behind: 410, and its files are deleted.
    await prisma.$executeRaw`UPDATE "FhirExportJob" SET "finishedAt" = now() - interval '25 hours' WHERE id = ${jobId}::uuid`;
    await withClockOff(-2 * 3_600_000, async () => {
      assert.equal((await admin(statusPath, { headers: operations })).status, 410);
      assert.equal(await runner.expireOld(), 1);
    });
    const expired = await prisma.fhirExportJob.findUniqueOrThrow({ where: { id: jobId }, select: { status: true, _count: { select: { files: true } } } });
    assert.deepEqual([expired.status, expired._count.files], ['EXPIRED', 0]);
  });
});
