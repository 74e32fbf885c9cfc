import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testAudience, testIssuer, testKeys } from '../../test/support/tokens.ts';
import { parsePrometheus, type Samples } from './prometheus.ts';

export const root = fileURLToPath(new URL('../../', import.meta.url));
/**
 * Where the clinigraph servers run from: this checkout, or BENCH_SERVER_ROOT
 * (another copy of the project, e.g. with a change under test, measured by
 * this checkout's benchmarks in the same way).
 */
export const serverRoot = process.env.BENCH_SERVER_ROOT ? path.resolve(process.env.BENCH_SERVER_ROOT) : root;

export interface ChildServer {
  name: string;
  process: ChildProcess;
  pid: number;
  /** The GraphQL URL the process printed. */
  url: string;
  /** Where its CPU profiles go, when profiling. */
  profile?: Profiling | undefined;
  /** Everything the process wrote (stdout and stderr), for error messages. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Profiling of a server's load phases (bench --profile): files DIR/NAME-<n>.cpuprofile. */
export interface Profiling {
  dir: string;
  name: string;
}

/** Starts (first call) or stops and writes (second call) a CPU profile of a server started with profiling; no-op otherwise. */
export async function toggleProfile(server: ChildServer, label?: string): Promise<void> {
  if (!server.profile || !isAlive(server)) return;
  const state = (profiling.get(server) ?? 0) + 1;
  profiling.set(server, state);
  server.process.kill('SIGUSR2');
  if (state % 2 === 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    return;
  }
  const file = path.join(server.profile.dir, `${server.profile.name}-${state / 2}.cpuprofile`);
  for (let i = 0; i < 300 && !(await access(file).then(() => true, () => false)); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  if (label) await rename(file, path.join(server.profile.dir, `${server.profile.name}-${label}.cpuprofile`)).catch(() => {});
}
const profiling = new Map<ChildServer, number>();

/**
 * Node's flags for clinigraph servers, as `npm start` runs them: a larger young
 * generation (64 MiB semi-spaces), because a request allocates a lot of
 * short-lived objects (rows, resolver results) and scavenges ran often.
 */
export const serverNodeFlags = ['--max-semi-space-size=64'];

/** Every child this process started, so a failing run still stops them. */
const running = new Set<ChildServer>();

/**
 * Starts a Node process running a TypeScript entry point (through tsx, as
 * `npm start` does) and waits until it prints `... GraphQL API: <url>`.
 * @param profile preload the profiling hook (bench --profile)
 * @param nodeFlags flags for Node itself (serverNodeFlags for clinigraph)
 */
export async function startChild(
  name: string,
  script: string,
  env: Record<string, string>,
  profile?: Profiling,
  cwd = root,
  nodeFlags: string[] = [],
  timeoutMs = 180_000,
): Promise<ChildServer> {
  const hook = profile ? ['--import', path.join(root, 'bench/lib/profile-hook.ts')] : [];
  const profileEnv: Record<string, string> = profile ? { BENCH_PROFILE_DIR: profile.dir, BENCH_PROFILE_NAME: profile.name } : {};
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...hook, script], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', LOG_LEVEL: 'warn', ...env, ...profileEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      const match = /GraphQL API: (http\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(match[1]!);
      }
    };
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
    };
    child.stdout!.on('data', check);
    child.once('exit', exited);
  });
  const server: ChildServer = {
    name,
    process: child,
    pid: child.pid!,
    url,
    profile,
    output: () => output,
    async stop() {
      running.delete(server);
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code] = await exited;
      clearTimeout(timer);
      return code as number | null;
    },
  };
  running.add(server);
  child.once('exit', (code, signal) => {
    if (running.has(server)) {
      running.delete(server);
      console.error(`\n${name} (pid ${server.pid}) exited unexpectedly (${code ?? signal}):\n${output.slice(-4000)}`);
    }
  });
  return server;
}

/** Stops every child still running (on failure or interruption). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
}

/** Whether a child is still alive (a crash during a benchmark is a broken run). */
export function isAlive(server: ChildServer): boolean {
  return server.process.exitCode === null && server.process.signalCode === null;
}

/**
 * Settings of a clinigraph server for the benchmarks: test identity provider,
 * quiet logs, rate limits out of the way, NODE_ENV=production as a deployment
 * has it (Prisma's minimal error format, graphql-js without its development
 * checks) but CLINIGRAPH_MODE=development, because production mode refuses
 * AUDIT_READS=false and the audit on/off servers must differ in that only.
 */
export async function clinigraphEnv(database: { databaseUrl?: string | undefined; dataDir: string }, extra: Record<string, string> = {}) {
  return {
    NODE_ENV: 'production',
    CLINIGRAPH_MODE: 'development',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    DATA_DIR: database.dataDir,
    DEMO_DATA: 'false',
    DEFAULT_MODELS: 'true',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '100000000',
    AUTH_PUBLIC_KEY: (await testKeys()).publicKeyPem,
    AUTH_ALGORITHMS: 'ES256',
    AUTH_ISSUER: testIssuer,
    AUTH_AUDIENCE: testAudience,
    ...extra,
  };
}

/** Starts `src/server/main.ts` (what `npm start` runs) and waits until /readyz says the models are warm. */
export async function startClinigraph(name: string, env: Record<string, string>, profile?: Profiling, cwd = serverRoot): Promise<ChildServer> {
  const server = await startChild(name, 'src/server/main.ts', env, profile, cwd, serverNodeFlags);
  const readyz = server.url.replace(/\/graphql$/, '/readyz');
  const deadline = Date.now() + 120_000;
  for (;;) {
    const response = await fetch(readyz).catch(() => undefined);
    if (response?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`${name} was not ready in 120 s: ${response ? await response.text() : 'no answer'}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return server;
}

/** Resident memory of a process in MiB, from /proc/<pid>/status (VmRSS). */
export async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb / 1024;
}

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** The server's Prometheus metrics, parsed. */
export async function scrapeMetrics(server: ChildServer): Promise<Samples> {
  const response = await fetch(server.url.replace(/\/graphql$/, '/metrics'));
  if (!response.ok) throw new Error(`${server.name}: /metrics answered ${response.status}`);
  return parsePrometheus(await response.text());
}
