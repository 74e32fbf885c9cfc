import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { AuditEventsDocument } from '../console/src/generated/graphql.ts';
import { consoleDistDir } from '../src/server/console.ts';
import { signToken } from '../test/support/tokens.ts';
import type { BenchContext } from './lib/context.ts';
import { gql } from './lib/load.ts';
import { fmt, log, median, percentile, table, verdict } from './lib/report.ts';
import { clinigraphEnv, startClinigraph } from './lib/servers.ts';

/*
 * The console (issue 12): how much JavaScript its first load transfers
 * (gzipped, as a compressing proxy sends it), and how long the auditor's
 * audit page takes to get its 50 records after a filter, with many records
 * in the log (the exact document the console sends, over loopback).
 */
const firstLoadTargetKiB = 300;
const auditPageTargetMs = 300;

interface ManifestChunk {
  file: string;
  imports?: string[];
  dynamicImports?: string[];
  css?: string[];
  isEntry?: boolean;
}

export async function consoleBenchmark(ctx: BenchContext): Promise<void> {
  log('console: first-load JavaScript');
  await bundleFigures();
  const records = Number(process.env.BENCH_CONSOLE_AUDIT_RECORDS ?? (ctx.settings.short ? 50_000 : 1_000_000));
  log(`console: audit page with ${records.toLocaleString('en')} audit records`);
  await auditPageFigures(ctx, records);
}

/** Gzipped size of the JavaScript each page needs: the entry and its static imports, then each role's lazy chunk. */
async function bundleFigures(): Promise<void> {
  const dir = `${consoleDistDir}console/`;
  const manifest = JSON.parse(await readFile(`${dir}.vite/manifest.json`, 'utf8')) as Record<string, ManifestChunk>;
  const gzipped = new Map<string, number>();
  const sizeOf = async (file: string) => {
    if (!gzipped.has(file)) gzipped.set(file, gzipSync(await readFile(`${dir}${file}`), { level: 6 }).length);
    return gzipped.get(file)!;
  };
  // A chunk and everything it imports statically: what the browser fetches to run it.
  const closure = (key: string, into = new Set<string>()) => {
    if (into.has(key)) return into;
    into.add(key);
    for (const imported of manifest[key]?.imports ?? []) closure(imported, into);
    return into;
  };
  const kib = async (keys: Set<string>) => {
    let bytes = 0;
    for (const key of keys) bytes += await sizeOf(manifest[key]!.file);
    return bytes / 1024;
  };
  const entryKey = Object.keys(manifest).find((key) => manifest[key]!.isEntry && key.endsWith('index.html'))!;
  const firstLoad = closure(entryKey);
  const firstLoadKiB = await kib(firstLoad);
  const rows: (string | number)[][] = [['first load (sign-in page)', fmt.n(firstLoadKiB)]];
  for (const role of ['admin', 'auditor', 'clinician', 'data-scientist']) {
    const lazy = Object.keys(manifest).find((key) => key.includes(`src/${role}/routes.tsx`));
    if (!lazy) continue;
    const page = closure(lazy, new Set(firstLoad));
    rows.push([`first load + ${role} pages`, fmt.n(await kib(page))]);
  }
  const chart = Object.keys(manifest).find((key) => key.includes('ChartCanvas'));
  if (chart) rows.push(['charts (Chart.js, loaded with the first chart)', fmt.n(await kib(closure(chart)))]);
  console.log(table(['JavaScript', 'KiB gzipped'], rows));
  verdict('console', 'first-load JavaScript, gzipped', `${fmt.n(firstLoadKiB)} KiB`, `<= ${firstLoadTargetKiB} KiB`, firstLoadKiB <= firstLoadTargetKiB);
}

/** Seeds the audit log (directly, in bulk; the server's sequencer then puts the entries into the tree) and times the console's audit query per filter. */
async function auditPageFigures(ctx: BenchContext, records: number): Promise<void> {
  const databaseUrl = await ctx.databases.create('console_audit');
  const seconds = await seedAuditLog(databaseUrl, records);
  log(`seeded ${records.toLocaleString('en')} audit records in ${fmt.n(seconds)} s`);
  const server = await startClinigraph('clinigraph-console-audit', await clinigraphEnv({ databaseUrl, dataDir: await ctx.tempDir('console') }, { DEFAULT_MODELS: 'false' }));
  try {
    const token = await signToken({ sub: 'bench-auditor', roles: ['auditor'] }, { expiresIn: 3600 });
    const query = AuditEventsDocument.toString();
    const page = (filter: Record<string, unknown>, after?: string) =>
      gql<{ auditEvents: { edges: unknown[]; pageInfo: { endCursor: string | null } } }>(server.url, token, query, { filter, first: 50, ...(after ? { after } : {}) });
    const month = new Date(Date.now() - 30 * 24 * 3600 * 1000).toISOString();
    const filters: [string, Record<string, unknown>][] = [
      ['no filter (newest 50)', {}],
      ['actor', { actorSubject: 'bench-actor-7' }],
      ['patient', { patientId: patientUuid(42) }],
      ['outcome DENIED, last 30 days', { outcome: 'DENIED', from: month }],
      ['purpose ETREAT, break-glass', { purposeOfUse: 'ETREAT', breakGlass: true }],
      ['action and actor', { action: 'prediction.create', actorSubject: 'bench-actor-3' }],
    ];
    const rounds = ctx.settings.short ? 10 : 30;
    const rows: (string | number)[][] = [];
    let worstP95 = 0;
    for (const [label, filter] of filters) {
      await page(filter); // warm the plan and the connection
      const times: number[] = [];
      let shown = 0;
      let cursor: string | null = null;
      for (let round = 0; round < rounds; round++) {
        const started = performance.now();
        const answer = await page(filter);
        times.push(performance.now() - started);
        shown = answer.auditEvents.edges.length;
        cursor = answer.auditEvents.pageInfo.endCursor;
      }
      const next = performance.now();
      if (cursor) await page(filter, cursor);
      const nextMs = performance.now() - next;
      const p95 = percentile(times, 0.95);
      worstP95 = Math.max(worstP95, p95);
      rows.push([label, shown, fmt.n(median(times)), fmt.n(p95), cursor ? fmt.n(nextMs) : '—']);
    }
    console.log(table(['filter', 'records shown', 'median ms', 'p95 ms', 'next page ms'], rows));
    verdict('console', `audit page of 50 after a filter, ${records.toLocaleString('en')} records (worst p95)`, `${fmt.n(worstP95)} ms`, `<= ${auditPageTargetMs} ms`, worstP95 <= auditPageTargetMs);
  } finally {
    await server.stop();
  }
}

const patients = 5000;
const actors = 200;
const seedChunk = 100_000;

/** A fixed UUID per seeded patient number, the same in SQL (md5 of 'patient-<n>', as PostgreSQL's md5()::uuid gives it) and here. */
function patientUuid(n: number): string {
  const hex = createHash('md5').update(`patient-${n}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Inserts `count` audit records shaped like real traffic: 200 actors, 5000
 * patients, one read in 20 denied, one in 500 under break-glass (ETREAT),
 * spread over the last year. Returns the seconds it took.
 */
async function seedAuditLog(databaseUrl: string, count: number): Promise<number> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let from = 1; from <= count; from += seedChunk) {
      const to = Math.min(from + seedChunk - 1, count);
      await client.query(
        `INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceType", "resourceIds",
           "patientIds", "purposeOfUse", "breakGlass", reason, "requestId", "operationName", "queryHash", "clientAddress", "userAgent")
         SELECT gen_random_uuid(),
                now() - interval '365 days' + (i::float8 / $2) * interval '365 days',
                'bench-actor-' || (i % $3), ARRAY['clinician'],
                (ARRAY['patient.read','case.read','observation.read','prediction.create','patient.update'])[1 + i % 5],
                (CASE WHEN i % 20 = 0 THEN 'DENIED' ELSE 'SUCCESS' END)::"AuditOutcome",
                'Patient', ARRAY[md5('patient-' || (i % $4))::uuid::text], ARRAY[md5('patient-' || (i % $4))::uuid::text],
                CASE WHEN i % 500 = 0 THEN 'ETREAT' ELSE 'TREAT' END, i % 500 = 0,
                CASE WHEN i % 20 = 0 THEN 'not-on-care-team' END,
                'bench-' || i, 'BenchRead', md5('query'), '127.0.0.1', 'bench'
         FROM generate_series($1::bigint, $5::bigint) AS i`,
        [from, count, actors, patients, to],
      );
    }
    await client.query('ANALYZE "AuditEvent"');
  } finally {
    await client.end();
  }
  return (performance.now() - started) / 1000;
}
