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

/** Runs one message; its raw answer goes back whole (the server's thread parses it: parsing here too would be spent twice). */
async function run(id: number, message: Uint8Array): Promise<void> {
  try {
    const chunks: Uint8Array[] = [];
    await pglite.execProtocolRawStream(message, { onRawData: (bytes) => chunks.push(bytes.slice()) });
    const data = joined(chunks);
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

/** The chunks in one array with a buffer of its own (it is handed over to the other thread, not copied). */
function joined(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const whole = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.length;
  }
  return whole;
}
