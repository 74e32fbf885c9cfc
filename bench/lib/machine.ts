import { readFile } from 'node:fs/promises';
import os from 'node:os';

/** The machine the figures come from: cores, memory, CPU model, Node, load at start, date. */
export async function machineDescription(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return [
    `Machine: ${os.availableParallelism()} cores (${model}), ${gib(os.totalmem())} memory (${gib(os.freemem())} free), Node ${process.version}, ${os.platform()} ${os.release()}`,
    `Load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes share these cores)`,
    `Date: ${new Date().toISOString()}`,
    'Load generator: autocannon in this process (one thread), servers in child processes, all on loopback and on the same cores.',
  ].join('\n');
}

/** The commit measured, and whether the working tree had changes under src/ (figures then describe those). */
export async function sourceDescription(): Promise<string> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = (args: string[]) => promisify(execFile)('git', args, { cwd: new URL('../../', import.meta.url) }).then((r) => r.stdout.trim(), () => '');
  const commit = (await run(['rev-parse', '--short', 'HEAD'])) || 'unknown';
  const changed = (await run(['status', '--porcelain', '--', 'src', 'prisma'])).split('\n').filter(Boolean).length;
  return `Source: commit ${commit}${changed ? `, plus ${changed} uncommitted change(s) under src/ and prisma/` : ''}`;
}
