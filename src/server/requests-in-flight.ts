import type { Server } from 'node:http';

/** How many HTTP requests a server is answering right now. */
export interface RequestsInFlight {
  count(): number;
}

/**
 * Counts the requests a server has received and not yet finished (answered,
 * or the connection gone), so background work can give way to them.
 */
export function countRequestsInFlight(server: Server): RequestsInFlight {
  let inFlight = 0;
  server.on('request', (_request, response) => {
    inFlight++;
    response.once('close', () => inFlight--);
  });
  return { count: () => inFlight };
}
