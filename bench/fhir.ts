import type { Bundle, BundleEntry, Observation, Patient } from '@medplum/fhirtypes';
import { signToken } from '../test/support/tokens.ts';
import { ehrBundle } from '../test/fhir/ehr-bundles.ts';
import type { BenchContext } from './lib/context.ts';
import { fmt, log, table, verdict } from './lib/report.ts';
import { type ChildServer, clinigraphEnv, startClinigraph } from './lib/servers.ts';

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

async function onFreshServer<T>(ctx: BenchContext, name: string, work: (server: ChildServer) => Promise<T>): Promise<T> {
  const databaseUrl = await ctx.databases.create(`fhir_${name}`);
  const env = await clinigraphEnv({ databaseUrl, dataDir: await ctx.tempDir(`fhir-${name}`) }, { DEFAULT_MODELS: 'false', REQUEST_TIMEOUT_MS: '300000', FHIR_EXPORT_PSEUDONYM_KEY: 'bench-pseudonym-key-0123456789abcdef012345' });
  const server = await startClinigraph(`fhir-${name}`, env, ctx.profile(`fhir-${name}`));
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function postBundle(server: ChildServer, token: string, bundle: Bundle): Promise<void> {
  const response = await fetch(server.url.replace(/\/graphql$/, '/fhir/R4'), {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
    body: JSON.stringify(bundle),
  });
  const body = (await response.json()) as Bundle;
  const refused = body.entry?.filter((entry) => !entry.response?.status.startsWith('20')) ?? [];
  if (response.status !== 200 || refused.length) throw new Error(`import answered ${response.status}: ${JSON.stringify(body).slice(0, 400)}`);
}

/** Kicks off a de-identified export, polls it to its manifest and downloads every file; the seconds and the resources exported. */
async function timedExport(server: ChildServer, token: string): Promise<{ seconds: number; resources: number }> {
  const base = server.url.replace(/\/graphql$/, '/fhir/R4');
  const headers = { authorization: `Bearer ${token}` };
  const started = performance.now();
  const kickOff = await fetch(`${base}/$export`, { headers: { ...headers, prefer: 'respond-async' } });
  if (kickOff.status !== 202) throw new Error(`export kick-off answered ${kickOff.status}: ${await kickOff.text()}`);
  const status = kickOff.headers.get('content-location')!;
  let poll = await fetch(status, { headers });
  while (poll.status === 202) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    poll = await fetch(status, { headers });
  }
  const manifest = (await poll.json()) as { output: { url: string; count: number }[] };
  for (const output of manifest.output) await (await fetch(output.url, { headers })).text();
  return { seconds: (performance.now() - started) / 1000, resources: manifest.output.reduce((sum, output) => sum + output.count, 0) };
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
