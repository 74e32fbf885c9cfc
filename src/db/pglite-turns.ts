import type { PGlite } from '@electric-sql/pglite';

/** What the Prisma driver adapter (pglite-prisma-adapter) calls on a PGlite instance. */
type Used = Pick<PGlite, 'query' | 'exec' | 'transaction'>;

/**
 * PGlite runs each statement synchronously in this thread, and its queue hands
 * the engine from one waiting statement to the next in promise callbacks, so a
 * queue of statements ran back to back without the event loop getting a turn:
 * sockets were not read or written meanwhile (event-loop delay of hundreds of
 * ms under 50 connections), and a request whose next step needed the event
 * loop waited behind whole chains of others (p99 in seconds, audit on or off).
 * Here statements (and transactions, whole) run one at a time, first in,
 * first out, each after a turn of the event loop (setImmediate), so the delay
 * is bounded by one statement and requests are served in arrival order.
 * Statements inside a transaction go straight to its own handle.
 * @returns an object the adapter takes for the PGlite instance
 */
export function pgliteTakingTurns(pglite: PGlite): PGlite {
  let tail: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const turn = tail.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(work);
    tail = turn.catch(() => {});
    return turn;
  };
  const used: Used = {
    query: (...args: Parameters<PGlite['query']>) => inTurn(() => pglite.query(...args)),
    exec: (...args: Parameters<PGlite['exec']>) => inTurn(() => pglite.exec(...args)),
    transaction: (...args: Parameters<PGlite['transaction']>) => inTurn(() => pglite.transaction(...args)),
  } as Used;
  return used as PGlite;
}
