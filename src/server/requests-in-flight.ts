import type { Server } from 'node:http';
import type { InteractiveRequests } from '../fhir/duty-cycle.ts';

/**
 * Watches the requests a server has received and not yet finished (answered,
 * or the connection gone), so background work can give way to them.
 * @param counts which requests count, by URL (e.g. not the polling of the background work itself)
 */
export function countRequestsInFlight(server: Server, counts: (url: string) => boolean = () => true): InteractiveRequests {
  let inFlight = 0;
  let lastFinished = -Infinity;
  /** One promise shared by everyone waiting for the next moment with none in flight. */
  let nextGap: { promise: Promise<void>; resolve: () => void } | undefined;
  server.on('request', (request, response) => {
    if (!counts(request.url ?? '')) return;
    inFlight++;
    response.once('close', () => {
      inFlight--;
      lastFinished = performance.now();
      if (inFlight === 0 && nextGap) {
        nextGap.resolve();
        nextGap = undefined;
      }
    });
  });
  return {
    idleMs: () => (inFlight > 0 ? 0 : performance.now() - lastFinished),
    noneInFlight: () => {
      if (inFlight === 0) return Promise.resolve();
      if (!nextGap) {
        let resolve!: () => void;
        const promise = new Promise<void>((settle) => (resolve = settle));
        nextGap = { promise, resolve };
      }
      return nextGap.promise;
    },
  };
}
