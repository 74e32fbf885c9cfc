#!/usr/bin/env tsx
/**
 * What the audit sequencer costs, apart from any server: CPU per entry it
 * integrates (entries written as the server writes them, ten resource ids
 * each, in batches of 125 and 1,000) and per poll that finds nothing, in this
 * process and in PostgreSQL (the sum over the postgres processes of this
 * machine, from /proc: PostgreSQL must run here, and nothing else should use it).
 *
 *   npx tsx bench/sequencer.ts [--entries 20000]
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AuditLog } from '../src/audit/audit-log.ts';
import type { AuditRecord } from '../src/audit/audit-record.ts';
import { parseSignerKey } from '../src/audit/checkpoint.ts';
import { AuditSequencer } from '../src/audit/sequencer.ts';
import { openDatabase } from '../src/db/database.ts';
import { createTestDatabase } from '../test/support/test-database.ts';
import { testAuditKeys } from '../test/support/test-server.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '20000' } } });
const entries = Number(values.entries);
const silent = pino({ level: 'silent' });

/** CPU milliseconds of every postgres process now running. */
function postgresCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).startsWith('postgres')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ticks * 10;
}

/** This process's and PostgreSQL's CPU, in µs per unit of work, over `work`. */
async function cpuPer(units: number, work: () => Promise<void>): Promise<{ node: number; postgres: number }> {
  const postgresBefore = postgresCpuMs();
  const nodeBefore = process.cpuUsage();
  await work();
  const node = process.cpuUsage(nodeBefore);
  return { node: (node.user + node.system) / units, postgres: ((postgresCpuMs() - postgresBefore) * 1000) / units };
}

const record = (): AuditRecord => ({
  id: randomUUID(), recordedAt: new Date(), actorSubject: 'clinician-1', actorRoles: ['clinician'], action: 'case.read', outcome: 'SUCCESS',
  resourceType: 'Case', resourceIds: Array.from({ length: 10 }, () => randomUUID()), patientIds: [randomUUID()], purposeOfUse: 'TREAT',
  breakGlass: false, reason: null, requestId: randomUUID(), clientRequestId: null, operationName: 'PatientDetail', queryHash: 'a1b2c3d4e5f60718',
  clientAddress: '127.0.0.1', userAgent: 'autocannon', additionalEntities: [],
});

async function measure(batchSize: number): Promise<void> {
  const database = await createTestDatabase({ serverUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
  const db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 2 });
  const options = { signer: parseSignerKey(testAuditKeys.signingKey), batchSize, intervalMs: 3_600_000, checkpointDir: undefined };
  const sequencer = new AuditSequencer(db.adapterFactory, database.databaseUrl, options, silent);
  try {
    await sequencer.integrateAll();
    const log = new AuditLog(db.prisma, silent);
    for (let written = 0; written < entries; written += 500) await log.append(Array.from({ length: Math.min(500, entries - written) }, record));
    const integrate = await cpuPer(entries, async () => void (await sequencer.integrateAll()));
    const polls = 500;
    const poll = await cpuPer(polls, async () => {
      for (let i = 0; i < polls; i++) await sequencer.integrateAll();
    });
    console.log(
      `batches of ${batchSize}: ${integrate.node.toFixed(0)} µs here + ${integrate.postgres.toFixed(0)} µs PostgreSQL an entry; ` +
        `a poll that finds nothing ${poll.node.toFixed(0)} µs here + ${poll.postgres.toFixed(0)} µs PostgreSQL`,
    );
  } finally {
    await sequencer.stop();
    await db.close();
    await database.drop();
  }
}

console.log(`audit sequencer, ${entries} entries (load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
for (const batchSize of [125, 1000]) await measure(batchSize);
