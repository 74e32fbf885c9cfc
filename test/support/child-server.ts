import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildServer {
  process: ChildProcess;
  /** The GraphQL URL the server printed. */
  url: string;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and waits for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs the documented start command (`bin/clinigraph`, which `npm start`
 * calls and the container runs) as its own process, the way an operator
 * starts it, and waits until it prints its URL. Signals reach the server itself.
 * @param env settings for the process, on top of a clean environment
 */
export async function startChildServer(env: Record<string, string>, timeoutMs = 120_000): Promise<ChildServer> {
  const child = spawn('bin/clinigraph', [], {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      const match = /GraphQL API: (http\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${output}`));
    });
  });
  return {
    process: child,
    url,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      // Killed by a signal, a process has no exit code, only a signal code.
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await once(child, 'exit');
      // A process it left behind (a start command that did not pass the signal on) must not keep the test waiting on its output.
      child.stdout!.destroy();
      child.stderr!.destroy();
      return code as number | null;
    },
  };
}
