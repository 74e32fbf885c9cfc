import type { Server } from 'node:http';

/** How many HTTP requests a server is answering right now. */
export interface RequestsInFlight {
  count(): number;
}

/**
 * Counts the requests a server has received and not yet finished (answered,
 * or the connection gone), so background work can give way to them.
 * @param counts which requests count, by URL (e.g. not the polling of the background work itself)
 */
export function countRequestsInFlight(server: Server, counts: (url: string) => boolean = () => true): RequestsInFlight {
  let inFlight = 0;
  server.on('request', (request, response) => {
    if (!counts(request.url ?? '')) return;
    inFlight++;
    response.once('close', () => inFlight--);
  });
  return { count: () => inFlight };
}
