import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { signToken } from '../../test/support/tokens.ts';
import type { BenchDatabases } from './postgres.ts';
import type { Profiling } from './servers.ts';

/** Identities the benchmarks act as (tokens from the test identity provider the servers trust). */
export const identities = {
  admin: { sub: 'bench-admin', roles: ['admin'] },
  clinician: { sub: 'bench-clinician', roles: ['clinician'] },
};

export interface Tokens {
  admin: string;
  clinician: string;
  clinicianSubject: string;
}

export interface Settings {
  short: boolean;
  /** Seconds of each measured load phase (read, predict). */
  loadSeconds: number;
  /** Seconds of each latency phase (growth). */
  latencySeconds: number;
  /** Seconds of warm-up load before a server's first measured phase. */
  warmSeconds: number;
  /** Rounds of the read comparison (phases alternate between servers each round). */
  readRounds: number;
  /** Rounds of the growth comparison. */
  growthRounds: number;
  /** Patients of the small and large growth databases. */
  growthSmall: number;
  growthLarge: number;
  /** Also measure the read path on the embedded database (PGlite). */
  embedded: boolean;
  /** Which benchmarks to run. */
  only: Set<string>;
  /** Directory for CPU profiles of the clinigraph servers (node --cpu-prof), if profiling. */
  profileDir: string | undefined;
}

export interface BenchContext {
  settings: Settings;
  databases: BenchDatabases;
  tokens: Tokens;
  /** A temporary directory removed at the end of the run. */
  tempDir(prefix: string): Promise<string>;
  /** Profiling settings for a clinigraph server, when the run profiles (--profile DIR). */
  profile(name: string): Profiling | undefined;
  cleanup(): Promise<void>;
}

export async function createContext(settings: Settings, databases: BenchDatabases): Promise<BenchContext> {
  // Long enough for the whole run: the default 10 minutes is not.
  const sign = (identity: { sub: string; roles: string[] }) => signToken(identity, { expiresIn: 6 * 3600 });
  const tokens = { admin: await sign(identities.admin), clinician: await sign(identities.clinician), clinicianSubject: identities.clinician.sub };
  const dirs: string[] = [];
  return {
    settings,
    databases,
    tokens,
    async tempDir(prefix) {
      const dir = await mkdtemp(path.join(os.tmpdir(), `clinigraph-bench-${prefix}-`));
      dirs.push(dir);
      return dir;
    },
    profile(name) {
      return settings.profileDir ? { dir: settings.profileDir, name } : undefined;
    },
    async cleanup() {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}
