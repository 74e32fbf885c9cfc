/**
 * npm's postinstall. A development install (or a container's build stage) has
 * the generators, Prisma and GraphQL Code Generator, and Vite: it writes
 * src/generated/ and builds the console. A production-only install
 * (`npm ci --omit=dev`) has none of them: it skips both and uses what the build
 * stage made, so the install itself succeeds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const generators = ['prisma', 'graphql-codegen'];

if (generators.every((bin) => existsSync(`${root}node_modules/.bin/${bin}`))) {
  // Then the console's static assets (Vite, also a development dependency), so `npm ci && npm start` serves it.
  for (const script of ['generate', 'build']) {
    const run = spawnSync('npm', ['run', script], { cwd: root, stdio: 'inherit' });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
  process.exit(0);
}
if (existsSync(`${root}src/generated/prisma/client.ts`)) {
  console.log('clinigraph: production install, code generation skipped (src/generated/ comes from the build stage).');
} else {
  console.warn(
    'clinigraph: src/generated/ is missing and the generators are not installed (npm ci --omit=dev).\n' +
      'The server cannot start without it: run `npm ci` (with dev dependencies) first, or copy src/generated/ from a build stage.',
  );
}
