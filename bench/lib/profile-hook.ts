/**
 * Preloaded into a server only when the bench profiles (`--profile DIR`):
 * SIGUSR2 starts V8's CPU profiler in this process (main thread), the next
 * SIGUSR2 stops it and writes BENCH_PROFILE_DIR/BENCH_PROFILE_NAME-<n>.cpuprofile,
 * so a profile covers the measured load phases only, not start-up or seeding.
 * No server code is changed.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR!;
const name = process.env.BENCH_PROFILE_NAME ?? `server-${process.pid}`;
let session: Session | undefined;
let written = 0;

process.on('SIGUSR2', () => {
  void (async () => {
    if (!session) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
      return;
    }
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    session = undefined;
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${name}-${++written}.cpuprofile`);
    // Written under another name first, so the bench never reads half a file.
    await writeFile(`${file}.part`, JSON.stringify(profile));
    await rename(`${file}.part`, file);
  })();
});
