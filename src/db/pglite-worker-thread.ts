import { parentPort, workerData } from 'node:worker_threads';
import { createPGlite } from './pglite-engine.ts';
import type { ThreadReply, ThreadRequest } from './pglite-worker.ts';

/*
 * The worker thread of pglite-worker.ts: it owns the PGlite engine and runs
 * the wire-protocol messages it is sent, one at a time, in the order sent.
 */
const port = parentPort!;
const pglite = createPGlite(workerData as string);
const reply = (message: ThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let done: Promise<void> = pglite.waitReady.then(
  () => reply({ kind: 'ready' }),
  (error: Error) => reply({ kind: 'failed', message: error.message }),
);
port.on('message', (request: ThreadRequest) => {
  done = done.then(() => (request.kind === 'close' ? close() : run(request.id, request.message)));
});

async function run(id: number, message: Uint8Array): Promise<void> {
  try {
    const data = await pglite.execProtocolRaw(message);
    reply({ kind: 'data', id, data }, [data.buffer as ArrayBuffer]);
  } catch (error) {
    reply({ kind: 'error', id, message: (error as Error).message });
  }
}

async function close(): Promise<void> {
  await pglite.close();
  reply({ kind: 'closed' });
  port.close();
}
