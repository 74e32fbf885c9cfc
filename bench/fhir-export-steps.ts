/**
 * The CPU time of each step of a bulk export, measured in one process (a
 * figure a loaded machine inflates far less than latency): a test server
 * of the checkout in the current directory, `PATIENTS` patients (1,250 =
 * 10,000 resources) imported, then `ROUNDS` de-identified `$export`s, each
 * kicked off, polled as its Retry-After asks and downloaded. Every step of the export's
 * duty cycle (a page read, patients written, a part stored or read, the
 * completion) is timed with process.cpuUsage: with nothing else running in
 * the process, a step's CPU time bounds how long it can hold the event loop.
 * Nothing else in the process is paced, so the export runs at full speed.
 *
 *   cd <checkout> && DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<db> node --import tsx <this file>
 *
 * It imports the checkout's own modules by path, so a checkout from before a
 * change is measured with the same script (BENCHMARKS.md, issue 13).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pollExport } from './fhir.ts';

const root = process.cwd();
const { startTestServer } = await import(`${root}/test/support/test-server.ts`);
const { ehrBundle } = await import(`${root}/test/fhir/ehr-bundles.ts`);
const { fhirClient, interfaceEngine } = await import(`${root}/test/fhir/fhir-client.ts`);
const { people, signToken } = await import(`${root}/test/support/tokens.ts`);
const { DutyCycle } = await import(`${root}/src/fhir/duty-cycle.ts`);

const patients = Number(process.env.PATIENTS ?? 1250);
const rounds = Number(process.env.ROUNDS ?? 3);

interface Step {
  cpuMs: number;
  what: string;
}
let steps: Step[] = [];
const step = DutyCycle.prototype.step;
DutyCycle.prototype.step = async function <T>(this: unknown, work: () => Promise<T>): Promise<T> {
  const before = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(before);
  steps.push({ cpuMs: (used.user + used.system) / 1000, what: work.toString().replace(/\s+/g, ' ').slice(0, 40) });
  return step.call(this, async () => result) as Promise<T>;
};

const api = await startTestServer({ FHIR_EXPORT_PSEUDONYM_KEY: 'bench-pseudonym-key-0123456789abcdef012345' });
const engine = fhirClient(api, interfaceEngine);
const entries = ehrBundle('STEPS', patients).entry!;
for (let i = 0; i < entries.length; i += 1000) {
  const answer = await engine('', { body: { resourceType: 'Bundle', type: 'transaction', entry: entries.slice(i, i + 1000) } });
  if (answer.status !== 200) throw new Error(`import answered ${answer.status}`);
}
const headers = { authorization: `Bearer ${await signToken(people.dataScientist)}` };
const scientist = fhirClient(api, people.dataScientist);
for (let round = 1; round <= rounds; round++) {
  steps = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const kickOff = await scientist('/$export', { headers: { prefer: 'respond-async' } });
  const status = kickOff.headers.get('content-location')!;
  const poll = await pollExport(status, headers);
  const manifest = (await poll.json()) as { output: { url: string }[] };
  const exportSteps = steps.length;
  let largestFile = 0;
  for (const output of manifest.output) largestFile = Math.max(largestFile, (await (await fetch(output.url, { headers })).text()).length);
  delay.disable();
  const cpu = (list: Step[]) => list.reduce((sum, s) => sum + s.cpuMs, 0);
  const top = [...steps].sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 3);
  console.log(
    JSON.stringify({
      round,
      exportSteps,
      exportCpuMs: Math.round(cpu(steps.slice(0, exportSteps))),
      downloadSteps: steps.length - exportSteps,
      largestFileKiB: Math.round(largestFile / 1024),
      longestStepsCpuMs: top.map((s) => `${s.cpuMs.toFixed(1)} ${s.what}`),
      longestEventLoopDelayMs: Math.round(delay.max / 1e6),
    }),
  );
}
await api.server.stop();
process.exit(0);
