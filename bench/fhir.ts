import type { Bundle, BundleEntry, Observation, Patient } from '@medplum/fhirtypes';
import { signToken } from '../test/support/tokens.ts';
import { ehrBundle } from '../test/fhir/ehr-bundles.ts';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { BenchContext } from './lib/context.ts';
import { type LoadFigures, runLoad } from './lib/load.ts';
import { fmt, log, median, table, verdict } from './lib/report.ts';
import { total } from './lib/prometheus.ts';
import { type ChildServer, clinigraphEnv, scrapeMetrics, serverRoot, startClinigraph } from './lib/servers.ts';

const resourcesPerPatient = 8;
const batchResources = 400;

/**
 * Issue 13's import and export throughput: one transaction Bundle of 10,000
 * resources (2,000 in short mode), the same number in batch Bundles of 400,
 * and the same records written through GraphQL (createPatient, openCase,
 * addObservations per patient) by the same integration client in the same
 * run, each on a fresh PostgreSQL database; then a de-identified bulk
 * $export of the imported records (kick-off, polling, every file
 * downloaded). Requests are sequential, as an interface engine sends them.
 */
export async function fhirBenchmark(ctx: BenchContext): Promise<void> {
  const resources = ctx.settings.short ? 2_000 : 10_000;
  const patients = resources / resourcesPerPatient;
  const token = await signToken({ sub: 'bench-integration', roles: ['integration'] }, { expiresIn: 6 * 3600 });
  log(`fhir: ${resources} resources (${patients} patients) as one transaction, as batches of ${batchResources}, and as GraphQL writes`);

  const scientist = await signToken({ sub: 'bench-scientist', roles: ['data_scientist'] }, { expiresIn: 6 * 3600 });
  const { transaction, exported } = await onFreshServer(ctx, 'transaction', async (server) => ({
    transaction: await timed(() => postBundle(server, token, ehrBundle('TX', patients))),
    exported: await timedExport(server, scientist),
  }));
  const batches = await onFreshServer(ctx, 'batch', (server) =>
    timed(async () => {
      for (const bundle of split(ehrBundle('BA', patients), batchResources)) await postBundle(server, token, bundle);
    }),
  );
  const graphql = await onFreshServer(ctx, 'graphql', (server) => timed(() => writeThroughGraphql(server, token, ehrBundle('GQ', patients))));

  const rate = (seconds: number) => resources / seconds;
  console.log('\n### FHIR import throughput (sequential requests, PostgreSQL)\n');
  console.log(
    table(
      ['how', 'seconds', 'resources / s', 'vs GraphQL'],
      [
        [`one transaction Bundle of ${resources}`, fmt.n(transaction), fmt.n(rate(transaction)), `${fmt.n(graphql / transaction)}x`],
        [`batch Bundles of ${batchResources}`, fmt.n(batches), fmt.n(rate(batches)), `${fmt.n(graphql / batches)}x`],
        [`GraphQL: createPatient, openCase, addObservations per patient`, fmt.n(graphql), fmt.n(rate(graphql)), '1x'],
        [`de-identified bulk $export of the same records (${exported.resources} resources)`, fmt.n(exported.seconds), fmt.n(exported.resources / exported.seconds), `${fmt.n(graphql / exported.seconds)}x`],
      ],
    ),
  );
  verdict('13 fhir', `transaction of ${resources} resources`, `${fmt.n(rate(transaction))} resources/s (${fmt.n(graphql / transaction)}x GraphQL)`, '(reported)', undefined);
  verdict('13 fhir', 'de-identified $export', `${fmt.n(exported.resources / exported.seconds)} resources/s (${fmt.n(graphql / exported.seconds)}x GraphQL writes)`, '(reported)', undefined);
  verdict('13 fhir', `batches of ${batchResources}`, `${fmt.n(rate(batches))} resources/s (${fmt.n(graphql / batches)}x GraphQL)`, '(reported)', undefined);
}

/** How many interactive clients read while an export runs (a ward's worth of open charts). */
const interactiveClients = 4;
/** Most an export running in the background may slow interactive reads (issue 13): throughput at least 0.8x, p99 at most 1.2x. */
const allowedSlowdown = 0.2;
const patientRead = 'query Chart($id: ID!) { patient(id: $id) { id mrn givenName familyName birthDate sex phone address } }';

/**
 * Issue 13: interactive reads (an admin's patient reads by id, GraphQL,
 * 4 clients in a closed loop) alone and with de-identified bulk exports of
 * the same records running back to back in the background, phases
 * alternating on the same server in the same run; the ratios of throughput
 * and p99 are the verdict (at most 20% slower). With BENCH_BASELINE_ROOT (a
 * checkout of the project from before a change) the same is measured on that
 * checkout too, its phases interleaved with this one's: the A/B of a change.
 */
export async function fhirExportInterferenceBenchmark(ctx: BenchContext): Promise<void> {
  const resources = ctx.settings.short ? 2_000 : 10_000;
  const rounds = ctx.settings.short ? 2 : 3;
  const baselineRoot = process.env.BENCH_BASELINE_ROOT ? path.resolve(process.env.BENCH_BASELINE_ROOT) : undefined;
  const checkouts = [...(baselineRoot ? [{ name: 'before (BENCH_BASELINE_ROOT)', root: baselineRoot }] : []), { name: 'this checkout', root: serverRoot }];
  for (const { root } of checkouts) await requireCurrentPrismaClient(root);
  const tokens = {
    integration: await signToken({ sub: 'bench-integration', roles: ['integration'] }, { expiresIn: 6 * 3600 }),
    scientist: await signToken({ sub: 'bench-scientist', roles: ['data_scientist'] }, { expiresIn: 6 * 3600 }),
    admin: await signToken({ sub: 'bench-admin', roles: ['admin'] }, { expiresIn: 6 * 3600 }),
  };
  log(`fhir export interference: ${resources} resources imported; reads alone and beside exports, ${rounds} rounds on ${checkouts.map((c) => c.name).join(' and ')}`);
  const servers: { name: string; server: ChildServer; patientIds: string[]; alone: ReadFigures[]; exporting: ReadFigures[]; exports: ExportRun[]; failedExports: string[] }[] = [];
  try {
    for (const [i, checkout] of checkouts.entries()) {
      const server = await startFresh(ctx, `export${i}`, checkout.root);
      // Transactions of 1,000 resources: the records are what matters here, not one long import.
      const patientIds: string[] = [];
      for (const part of split(ehrBundle('EXP', resources / resourcesPerPatient), 1_000)) {
        const answer = await postBundle(server, tokens.integration, { ...part, type: 'transaction' });
        patientIds.push(...answer.entry!.flatMap((entry) => (entry.response?.location?.startsWith('Patient/') ? [entry.response.location.slice('Patient/'.length)] : [])));
      }
      servers.push({ name: checkout.name, server, patientIds, alone: [], exporting: [], exports: [], failedExports: [] });
    }
    for (const target of servers) await readPhase(ctx, target, tokens.admin, 'warm-up', true);
    for (let round = 1; round <= rounds; round++) {
      for (const target of servers) {
        target.alone.push(await readPhase(ctx, target, tokens.admin, `reads alone, round ${round}`));
        const background = exportsInBackground(target.server, tokens.scientist);
        target.exporting.push(await readPhase(ctx, target, tokens.admin, `reads beside exports, round ${round}`));
        const { finished, failed } = await background.stop();
        target.exports.push(...finished);
        target.failedExports.push(...failed);
      }
    }
  } finally {
    for (const { server } of servers) await server.stop();
  }

  console.log(`\n### Interactive reads beside a bulk export (${resources} resources; ${interactiveClients} clients; median of ${rounds} rounds; PostgreSQL)\n`);
  const rows = servers.map((target) => {
    const rps = (figures: ReadFigures[]) => median(figures.map((f) => f.rps));
    const p99 = (figures: ReadFigures[]) => median(figures.map((f) => f.p99));
    const loopMax = (figures: ReadFigures[]) => Math.max(...figures.map((f) => f.eventLoopMaxMs));
    const throughput = rps(target.exporting) / rps(target.alone);
    const latency = p99(target.exporting) / p99(target.alone);
    return { target, throughput, latency, alone: { rps: rps(target.alone), p99: p99(target.alone), loopMax: loopMax(target.alone) }, exporting: { rps: rps(target.exporting), p99: p99(target.exporting), loopMax: loopMax(target.exporting) } };
  });
  console.log(
    table(
      ['server', 'reads/s alone', 'p99 alone', 'reads/s beside export', 'p99 beside export', 'throughput ratio', 'p99 ratio', 'longest event-loop delay alone', 'beside export', 'exports finished', 'failed', 'export s (median)', 'export resources/s', 'largest file'],
      rows.map((r) => [
        r.target.name,
        fmt.n(r.alone.rps),
        fmt.ms(r.alone.p99),
        fmt.n(r.exporting.rps),
        fmt.ms(r.exporting.p99),
        `${fmt.n(r.throughput)}x`,
        `${fmt.n(r.latency)}x`,
        fmt.ms(r.alone.loopMax),
        fmt.ms(r.exporting.loopMax),
        r.target.exports.length,
        r.target.failedExports.length,
        fmt.n(median(r.target.exports.map((e) => e.seconds))),
        fmt.n(r.target.exports.reduce((sum, e) => sum + e.resources, 0) / r.target.exports.reduce((sum, e) => sum + e.seconds, 0)),
        `${fmt.n(Math.max(0, ...r.target.exports.map((e) => e.largestFileChars)) / 1024)} KiB`,
      ]),
    ),
  );
  console.log('\nThe longest event-loop delay is the largest of the phases (prom-client\'s monitorEventLoopDelay, reset at each phase\'s start): the longest span the server could not answer anything, which a loaded machine lengthens far less than it does throughput and p99.');
  for (const r of rows) {
    // Reads beside exports that fail are beside failing kick-offs, not beside an export: no figure at all.
    const failing = r.target.failedExports.length > 0;
    verdict(
      '13 fhir',
      `reads beside $export (${r.target.name}): throughput, p99`,
      failing ? `no figure: ${r.target.failedExports.length} exports failed` : `${fmt.n(r.throughput)}x, ${fmt.n(r.latency)}x`,
      `>= ${1 - allowedSlowdown}x, <= ${1 + allowedSlowdown}x`,
      !failing && r.throughput >= 1 - allowedSlowdown && r.latency <= 1 + allowedSlowdown,
    );
    verdict('13 fhir', `longest event-loop delay beside $export (${r.target.name})`, `${fmt.ms(r.exporting.loopMax)} (alone ${fmt.ms(r.alone.loopMax)})`, '(reported)', undefined);
  }
}

/**
 * Refuses a checkout whose generated Prisma client is older than its
 * schema (a merge or checkout since the last `npm run generate`): its
 * server would start, then fail on every model the old client lacks, and
 * its exports fail in milliseconds: no baseline (BENCHMARKS.md, issue 13).
 */
async function requireCurrentPrismaClient(root: string): Promise<void> {
  const modified = async (file: string) => (await stat(path.join(root, file))).mtimeMs;
  if ((await modified('src/generated/prisma/client.ts')) < (await modified('prisma/schema.prisma'))) {
    throw new Error(`${root}: the generated Prisma client is older than prisma/schema.prisma; run npm run generate there first`);
  }
}

/** A read phase's load figures and the server's event-loop delay over it. */
type ReadFigures = LoadFigures & { eventLoopMaxMs: number; eventLoopP99Ms: number };

async function readPhase(ctx: BenchContext, target: { name: string; server: ChildServer; patientIds: string[] }, token: string, label: string, warmUp = false): Promise<ReadFigures> {
  let next = 0;
  await scrapeMetrics(target.server); // each scrape resets the event-loop delay histogram
  const figures = await runLoad({
    label: `${target.name}: ${label}`,
    server: target.server,
    connections: interactiveClients,
    seconds: warmUp ? ctx.settings.warmSeconds : ctx.settings.loadSeconds,
    body: () => JSON.stringify({ query: patientRead, variables: { id: target.patientIds[next++ % target.patientIds.length] } }),
    headers: { authorization: `Bearer ${token}` },
    warmUp,
  });
  const after = await scrapeMetrics(target.server);
  const loop = { eventLoopMaxMs: total(after, 'clinigraph_nodejs_eventloop_lag_max_seconds') * 1000, eventLoopP99Ms: total(after, 'clinigraph_nodejs_eventloop_lag_p99_seconds') * 1000 };
  if (!warmUp) log(`${figures.label}: ${fmt.n(figures.rps)} reads/s, p99 ${fmt.ms(figures.p99)}, event loop delay p99 ${fmt.ms(loop.eventLoopP99Ms)}, max ${fmt.ms(loop.eventLoopMaxMs)}, server CPU ${fmt.ms(figures.serverCpuMsPerRequest)} a read`);
  return { ...figures, ...loop };
}

type ExportRun = Awaited<ReturnType<typeof timedExport>>;

/**
 * Runs de-identified exports one after another until stopped; stop() waits
 * for the one under way and tells each finished one's seconds and resources
 * (the last one's tail runs after the reads stopped, on an idle server) and
 * why each failed one failed (a failed export is a figure, not a broken run).
 */
function exportsInBackground(server: ChildServer, token: string): { stop(): Promise<{ finished: ExportRun[]; failed: string[] }> } {
  let stopping = false;
  const finished: ExportRun[] = [];
  const failed: string[] = [];
  const running = (async () => {
    while (!stopping) {
      await timedExport(server, token).then(
        (run) => finished.push(run),
        (error: unknown) => {
          // The server's own words on why (its log line names the error's type), so a failing checkout is diagnosed, not just counted.
          const logged = server.output().split('\n').filter((line) => line.includes('bulk export failed')).at(-1);
          failed.push((error as Error).message);
          log(`${server.name}: ${(error as Error).message}${logged ? `; server log: ${logged.slice(0, 300)}` : ''}`);
        },
      );
    }
  })();
  return {
    async stop() {
      stopping = true;
      await running;
      return { finished, failed };
    },
  };
}

async function onFreshServer<T>(ctx: BenchContext, name: string, work: (server: ChildServer) => Promise<T>): Promise<T> {
  const server = await startFresh(ctx, name, serverRoot);
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

/** A clinigraph server of a checkout on a fresh PostgreSQL database of its own. */
async function startFresh(ctx: BenchContext, name: string, root: string): Promise<ChildServer> {
  const databaseUrl = await ctx.databases.create(`fhir_${name}`);
  // The shipped models in production, as a hospital runs it: imports match observations to their features and convert units.
  // A 10,000-resource transaction may outlast the default import timeout on a slow or shared machine; the figure, not the limit, is measured.
  const env = await clinigraphEnv({ databaseUrl, dataDir: await ctx.tempDir(`fhir-${name}`) }, { DEFAULT_MODELS: 'true', REQUEST_TIMEOUT_MS: '300000', FHIR_IMPORT_TIMEOUT_MS: '600000', FHIR_EXPORT_PSEUDONYM_KEY: 'bench-pseudonym-key-0123456789abcdef012345' });
  return startClinigraph(`fhir-${name}`, env, ctx.profile(`fhir-${name}`), root);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function postBundle(server: ChildServer, token: string, bundle: Bundle): Promise<Bundle> {
  const response = await fetch(server.url.replace(/\/graphql$/, '/fhir/R4'), {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
    body: JSON.stringify(bundle),
  });
  const body = (await response.json()) as Bundle;
  const refused = body.entry?.filter((entry) => !entry.response?.status.startsWith('20')) ?? [];
  if (response.status !== 200 || refused.length) throw new Error(`import answered ${response.status}: ${JSON.stringify(body).slice(0, 400)}`);
  return body;
}

/** Kicks off a de-identified export, polls it to its manifest and downloads every file; the seconds, the resources exported and the largest file's size. */
async function timedExport(server: ChildServer, token: string): Promise<{ seconds: number; resources: number; largestFileChars: number }> {
  const base = server.url.replace(/\/graphql$/, '/fhir/R4');
  const headers = { authorization: `Bearer ${token}` };
  const started = performance.now();
  const kickOff = await fetch(`${base}/$export`, { headers: { ...headers, prefer: 'respond-async' } });
  if (kickOff.status !== 202) throw new Error(`export kick-off answered ${kickOff.status}: ${await kickOff.text()}`);
  const status = kickOff.headers.get('content-location')!;
  const poll = await pollExport(status, headers);
  if (poll.status !== 200) throw new Error(`export status answered ${poll.status}: ${await poll.text()}`);
  const manifest = (await poll.json()) as { output: { url: string; count: number }[] };
  let largestFileChars = 0;
  for (const output of manifest.output) largestFileChars = Math.max(largestFileChars, (await (await fetch(output.url, { headers })).text()).length);
  return { seconds: (performance.now() - started) / 1000, resources: manifest.output.reduce((sum, output) => sum + output.count, 0), largestFileChars };
}

/**
 * Polls an export's status URL until it is no longer 202, waiting between
 * polls as long as the server's Retry-After asks, as a FHIR Bulk Data client
 * must (https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request):
 * each poll is a request the server answers beside the interactive ones.
 */
export async function pollExport(status: string, headers: Record<string, string>): Promise<Response> {
  for (;;) {
    const poll = await fetch(status, { headers });
    if (poll.status !== 202) return poll;
    await poll.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs(poll.headers.get('retry-after'))));
  }
}

/** A Retry-After header's delay (seconds, or an HTTP date); one second when absent or unreadable. */
function retryAfterMs(header: string | null): number {
  if (header === null) return 1000;
  const seconds = Number(header);
  if (header.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 1000 : Math.max(0, at - Date.now());
}

/** Splits a Bundle into batch Bundles of about `size` resources, never splitting one patient's resources. */
function split(bundle: Bundle, size: number): Bundle[] {
  const entries = bundle.entry!;
  const perBundle = Math.max(resourcesPerPatient, size - (size % resourcesPerPatient));
  return Array.from({ length: Math.ceil(entries.length / perBundle) }, (_, i) => ({ resourceType: 'Bundle', type: 'batch', entry: entries.slice(i * perBundle, (i + 1) * perBundle) }));
}

/** The same records through GraphQL: per patient its record, its case and its observation values (units as the model reads them). */
async function writeThroughGraphql(server: ChildServer, token: string, bundle: Bundle): Promise<void> {
  const gql = async (query: string, variables: Record<string, unknown>) => {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { data?: Record<string, { id: string }>; errors?: unknown[] };
    if (body.errors) throw new Error(`GraphQL write failed: ${JSON.stringify(body.errors).slice(0, 400)}`);
    return body.data!;
  };
  const entries = bundle.entry!;
  for (let i = 0; i < entries.length; i += resourcesPerPatient) {
    const patient = (entries[i] as BundleEntry<Patient>).resource!;
    const created = await gql('mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }', {
      input: { mrn: patient.identifier![0]!.value, givenName: patient.name![0]!.given![0], familyName: patient.name![0]!.family, birthDate: patient.birthDate, sex: patient.gender!.toUpperCase(), phone: patient.telecom![0]!.value, address: '12 Harbour Road, Springfield, MA' },
    });
    const opened = await gql('mutation($input: OpenCaseInput!) { openCase(input: $input) { id } }', { input: { patientId: created.createPatient!.id, title: 'Diabetes follow-up' } });
    const observations = entries.slice(i + 2, i + resourcesPerPatient).flatMap((entry) => graphqlObservations((entry as BundleEntry<Observation>).resource!));
    await gql('mutation($id: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $id, observations: $o) { id } }', { id: opened.openCase!.id, o: observations });
  }
}

function graphqlObservations(observation: Observation): Record<string, unknown>[] {
  const code = observation.code.coding![0]!.code!;
  const at = observation.effectiveDateTime;
  if (observation.component) return observation.component.map((c) => ({ code: c.code.coding![0]!.code, value: c.valueQuantity!.value, unit: c.valueQuantity!.code, observedAt: at }));
  if (observation.valueQuantity) return [{ code, value: observation.valueQuantity.value, unit: observation.valueQuantity.code, observedAt: at }];
  if (observation.valueCodeableConcept) return [{ code, text: observation.valueCodeableConcept.coding![0]!.code, observedAt: at }];
  return [];
}
