import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

/**
 * A PostgreSQL server of a test's own (initdb into a temporary directory, a
 * free loopback port), so the test can stop and start a real server under
 * load without disturbing the shared one other test files use.
 */
export interface PrivatePostgres {
  /** Connection URL of its `postgres` database (trust authentication). */
  url: string;
  /** Fast shutdown, as `pg_ctl restart` and a service manager do: every backend is terminated (57P01), then connections are refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it (immediate) and removes its files. */
  destroy(): Promise<void>;
}

/** The directory holding initdb and pg_ctl: `pg_config --bindir`, else the newest Debian-style /usr/lib/postgresql/N/bin. */
async function postgresBinaries(): Promise<string | undefined> {
  const fromPgConfig = await run('pg_config', ['--bindir']).then(({ stdout }) => stdout.trim(), () => undefined);
  const candidates = fromPgConfig ? [fromPgConfig] : [];
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${version}/bin`);
  for (const dir of candidates) if (await readdir(dir).then((files) => files.includes('initdb') && files.includes('pg_ctl'), () => false)) return dir;
  return undefined;
}

/**
 * Makes and starts a private PostgreSQL server, or says why it cannot (no
 * server binaries here; as root, no `postgres` account to run them as, since
 * PostgreSQL refuses to run as root).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres | { unavailable: string }> {
  const bin = await postgresBinaries();
  if (!bin) return { unavailable: 'no PostgreSQL server binaries (initdb, pg_ctl) on this machine' };
  const asRoot = process.getuid?.() === 0;
  const account = asRoot ? await run('id', ['-u', 'postgres']).then(({ stdout }) => Number(stdout.trim()), () => undefined) : undefined;
  if (asRoot && account === undefined) return { unavailable: 'running as root without a postgres account to run PostgreSQL as' };
  const pgCommand = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]) : run(path.join(bin, tool), args);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinigraph-pg-'));
  if (account !== undefined) await chown(dir, account, account);
  const port = await freePort();
  const data = path.join(dir, 'data');
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  const start = async () => void (await pgCommand('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start']));
  try {
    await pgCommand('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await start();
  } catch (error) {
    // Binaries that are there but do not work are a failure to see, not a reason to skip; the files go either way.
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop: async () => void (await pgCommand('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])),
    async destroy() {
      await pgCommand('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
