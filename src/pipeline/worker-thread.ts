import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on a TypeScript module. Worker threads do not
 * inherit tsx's loader, so the worker starts from a small script that
 * registers it and then imports the module.
 * @param module the worker's module, e.g. new URL('./x-worker.ts', import.meta.url)
 */
export function startTypeScriptWorker(module: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}
