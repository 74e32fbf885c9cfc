import { readFile } from 'node:fs/promises';
import autocannon, { type RequestSpec } from 'autocannon';
import pg from 'pg';
import { percentile } from './report.ts';
import { type ChildServer, cpuSeconds, isAlive, residentMiB } from './servers.ts';

/** What one load phase measured. */
export interface LoadFigures {
  label: string;
  connections: number;
  seconds: number;
  requests: number;
  /**
   * Completed requests per second in the steady state: from the moment the
   * first `connections` responses are in (the first wave of a closed loop,
   * whose requests all arrive at once) to the end of the phase. Latency
   * percentiles are of the same window. Short phases with slow responses
   * fall back to the whole phase (steady = false).
   */
  rps: number;
  steady: boolean;
  /** Seconds until the steady window started. */
  rampSeconds: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** Server CPU over the phase, in cores (1.0 = one core busy all the time). */
  serverCores: number;
  /** Server CPU time per request, ms. */
  serverCpuMsPerRequest: number;
  /** CPU time of the server's PostgreSQL backends per request, ms (NaN without a database). */
  postgresCpuMsPerRequest: number;
  /** This (load-generating) process's CPU over the phase, in cores. */
  loadGenCores: number;
  /** Share of the machine's CPU time busy during the phase (all processes, other engineers' included). */
  machineBusy: number;
  /** Server resident memory after the phase, MiB. */
  rssMiB: number;
  /** Requests that failed: connection errors, timeouts, non-2xx, GraphQL errors in the body. */
  failures: number;
  firstFailure?: string | undefined;
  sessions?: DatabaseSessions | undefined;
}

export interface LoadOptions {
  label: string;
  server: ChildServer;
  connections: number;
  seconds: number;
  /** One body for every request, or a function giving each next body (rotating ids). */
  body: string | (() => string);
  headers: Record<string, string>;
  /** A warm-up phase: its figures are thrown away, and finishing no request in it is no failure. */
  warmUp?: boolean;
  /** The server's PostgreSQL database: its sessions are sampled during the phase (see DatabaseSessions). */
  databaseUrl?: string | undefined;
  /** Paced: at most this many requests a second over all connections (else each client sends as soon as it can). */
  rate?: number | undefined;
}

/** Means of the server's PostgreSQL sessions over a phase, sampled every 100 ms from pg_stat_activity. */
export interface DatabaseSessions {
  /** Running a statement. */
  active: number;
  /** In a transaction, waiting for the application's next statement (a held lock stays held meanwhile). */
  idleInTransaction: number;
  /** Waiting for an advisory lock (the audit chain's). */
  advisoryWaiters: number;
  samples: number;
}

/** Broken runs (failed requests, dead servers) are collected here; the run exits non-zero when any happened. */
export const problems: string[] = [];

/**
 * Runs one closed-loop load phase with autocannon against a server on
 * loopback: `connections` clients each send the next request as soon as the
 * previous answer arrived (or, paced by `rate`, no sooner than the rate
 * allows). A response is a failure when it is not 2xx or
 * its body carries GraphQL `errors`.
 */
export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const { server } = options;
  let firstFailure: string | undefined;
  const verifyBody = (body: string) => {
    const ok = !body.includes('"errors"');
    if (!ok) firstFailure ??= body.slice(0, 500);
    return ok;
  };
  const request: RequestSpec =
    typeof options.body === 'string'
      ? { method: 'POST', path: new URL(server.url).pathname, body: options.body }
      : {
          method: 'POST',
          path: new URL(server.url).pathname,
          setupRequest: (raw) => ({ ...raw, body: (options.body as () => string)() }),
        };
  const cpuBefore = await cpuSeconds(server.pid);
  const machineBefore = await machineTicks();
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const instance = autocannon({
    url: server.url,
    connections: options.connections,
    duration: options.seconds,
    timeout: 30,
    headers: { 'content-type': 'application/json', ...options.headers },
    requests: [request],
    verifyBody,
    ...(options.rate ? { overallRate: options.rate } : {}),
  });
  // Completion times and latencies of every response, for the steady-state window.
  const done: number[] = [];
  const latencies: number[] = [];
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    done.push(performance.now() - started);
    latencies.push(responseTime);
  });
  const sampler = options.databaseUrl && !options.warmUp ? sampleSessions(options.databaseUrl) : undefined;
  const pgBefore = options.databaseUrl ? await backendCpu(options.databaseUrl) : undefined;
  const result = await instance;
  const pgAfter = options.databaseUrl ? await backendCpu(options.databaseUrl) : undefined;
  const sessions = await sampler?.stop();
  let pgCpu = NaN;
  if (pgBefore && pgAfter) {
    pgCpu = 0;
    for (const [pid, seconds] of pgAfter) pgCpu += seconds - (pgBefore.get(pid) ?? 0);
  }
  const wall = (performance.now() - started) / 1000;
  const steady = steadyState(done, latencies, options.connections, result.duration * 1000);
  const own = process.cpuUsage(ownBefore);
  const machineAfter = await machineTicks();
  const alive = isAlive(server);
  const cpuAfter = alive ? await cpuSeconds(server.pid) : cpuBefore;
  const requests = result.requests.total;
  const failures = result.errors + result.non2xx + result.mismatches;
  if (!alive) problems.push(`${options.label}: ${server.name} died during the phase`);
  if (failures > 0 || (requests === 0 && !options.warmUp)) {
    problems.push(
      `${options.label}: ${failures} of ${requests} requests failed (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}, GraphQL errors ${result.mismatches})${firstFailure ? `: ${firstFailure}` : ''}\n  server log (tail): ${server.output().slice(-1500)}`,
    );
  }
  // Requests still in flight when the load stopped finish before the next phase (often on another server) starts.
  if (alive) await idle(server.pid);
  const busy = machineAfter.busy - machineBefore.busy;
  const all = machineAfter.total - machineBefore.total;
  return {
    label: options.label,
    connections: options.connections,
    seconds: result.duration,
    requests,
    ...steady,
    serverCores: (cpuAfter - cpuBefore) / wall,
    serverCpuMsPerRequest: requests ? ((cpuAfter - cpuBefore) * 1000) / requests : NaN,
    postgresCpuMsPerRequest: requests ? (pgCpu * 1000) / requests : NaN,
    loadGenCores: (own.user + own.system) / 1e6 / wall,
    machineBusy: all > 0 ? busy / all : NaN,
    rssMiB: alive ? await residentMiB(server.pid) : NaN,
    failures,
    firstFailure,
    sessions,
  };
}

/** Throughput and latency percentiles of the steady-state window of a phase (see LoadFigures.rps). */
function steadyState(done: number[], latencies: number[], connections: number, phaseMs: number) {
  const first = Math.min(connections, done.length) - 1;
  const from = first >= 0 ? done[first]! : 0;
  const window = phaseMs - from;
  const count = done.length - first - 1;
  const steady = first >= 0 && window >= 0.3 * phaseMs && count >= 20;
  const picked = steady ? latencies.slice(first + 1) : latencies;
  return {
    rps: steady ? (count * 1000) / window : (done.length * 1000) / phaseMs,
    steady,
    rampSeconds: steady ? from / 1000 : 0,
    p50: percentile(picked, 0.5),
    p90: percentile(picked, 0.9),
    p99: percentile(picked, 0.99),
    mean: picked.length ? picked.reduce((a, b) => a + b, 0) / picked.length : NaN,
  };
}

/** CPU seconds so far of each backend process connected to a database (the benchmark reads /proc; it runs on the database's machine). */
async function backendCpu(databaseUrl: string): Promise<Map<number, number>> {
  const { rows } = await adminQueryOn(databaseUrl, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name <> 'clinigraph-bench'`, [
    new URL(databaseUrl).pathname.slice(1),
  ]);
  const cpu = new Map<number, number>();
  for (const { pid } of rows as { pid: number }[]) {
    const seconds = await cpuSeconds(pid).catch(() => undefined);
    if (seconds !== undefined) cpu.set(pid, seconds);
  }
  return cpu;
}

async function adminQueryOn(url: string, sql: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: url, application_name: 'clinigraph-bench' });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

/** Samples a database's sessions (other than the sampler's own) until stopped. */
function sampleSessions(databaseUrl: string): { stop(): Promise<DatabaseSessions | undefined> } {
  const name = new URL(databaseUrl).pathname.slice(1);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'clinigraph-bench' });
  const sums = { active: 0, idleInTransaction: 0, advisoryWaiters: 0, samples: 0 };
  let running = true;
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query(
        `SELECT count(*) FILTER (WHERE state = 'active')::int AS active,
                count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS idle_in_tx,
                count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')::int AS advisory
           FROM pg_stat_activity WHERE datname = $1 AND application_name <> 'clinigraph-bench'`,
        [name],
      );
      sums.active += rows[0].active;
      sums.idleInTransaction += rows[0].idle_in_tx;
      sums.advisoryWaiters += rows[0].advisory;
      sums.samples++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => {});
      await client.end().catch(() => {});
      if (!sums.samples) return undefined;
      return {
        active: sums.active / sums.samples,
        idleInTransaction: sums.idleInTransaction / sums.samples,
        advisoryWaiters: sums.advisoryWaiters / sums.samples,
        samples: sums.samples,
      };
    },
  };
}

/** Waits until a process has (almost) stopped using CPU: its in-flight work is done. At most 10 s. */
async function idle(pid: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  let last = await cpuSeconds(pid).catch(() => NaN);
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const now = await cpuSeconds(pid).catch(() => NaN);
    if (!(now - last > 0.015)) return; // under 10% of a core over 150 ms (or the process is gone)
    last = now;
  }
}

/** Machine-wide CPU ticks (busy and total) from /proc/stat. */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as number[];
  const idleAll = idle! + iowait!;
  const total = user! + nice! + system! + idleAll + irq! + softirq! + steal!;
  return { busy: total - idleAll, total };
}

/** Posts one GraphQL operation and returns its data; throws on any error (seeding, checks). */
export async function gql<T = any>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (!response.ok || body.errors) throw new Error(`GraphQL request failed (${response.status}): ${JSON.stringify(body.errors ?? body).slice(0, 1000)}`);
  return body.data!;
}
