import type { Server } from 'node:http';

/** Whether a server is answering requests now, or how long it has not been. */
export interface RequestsInFlight {
  /** 0 while a request is in flight; else the milliseconds since the last one finished (Infinity: none yet). */
  idleMs(): number;
}

/**
 * Watches the requests a server has received and not yet finished (answered,
 * or the connection gone), so background work can give way to them.
 * @param counts which requests count, by URL (e.g. not the polling of the background work itself)
 */
export function countRequestsInFlight(server: Server, counts: (url: string) => boolean = () => true): RequestsInFlight {
  let inFlight = 0;
  let lastFinished = -Infinity;
  server.on('request', (request, response) => {
    if (!counts(request.url ?? '')) return;
    inFlight++;
    response.once('close', () => {
      inFlight--;
      lastFinished = performance.now();
    });
  });
  return { idleMs: () => (inFlight > 0 ? 0 : performance.now() - lastFinished) };
}
