/**
 * True when a Prisma error is a unique-constraint violation: P2002 from a
 * typed query, or a raw query's (P2010) driver-adapter error of that kind.
 */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { kind?: unknown } } } };
  return e.code === 'P2002' || (e.code === 'P2010' && e.meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation');
}

/** True when a query or commit ran into the end of its interactive transaction's time (Prisma P2028, not the "unable to start" kind): the transaction is rolled back. */
export function isTransactionExpired(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === 'P2028' && typeof e.message === 'string' && /expired transaction|Transaction already closed/.test(e.message);
}

/** Prisma codes for "the database cannot be reached or dropped the connection". */
const unavailablePrismaCodes = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);
/** Driver-adapter error kinds (`@prisma/adapter-pg`) with the same meaning. */
const unavailableAdapterKinds = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** SQLSTATEs of a server that is shutting down, restarting or refusing connections: class 08 (connection exception), 57P01-57P03, 53300. */
const unavailableSqlStates = /^(08...|57P0[123]|53300)$/;
/** node-postgres errors without a code, thrown when a connection dies or cannot be had. */
const unavailableDriverMessages =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

/**
 * True when an error means the database is unreachable or went away (restart,
 * crash, network), rather than a bug: the request may succeed if retried.
 * Covers Prisma's own codes, adapter errors Prisma wraps with their original
 * in `meta.driverAdapterError` (P2010 for raw queries, P2039 for database
 * errors such as 57P01), unwrapped adapter errors, and node-postgres errors
 * the adapter passes through as plain Errors.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; code?: unknown; message?: unknown; meta?: { driverAdapterError?: unknown } };
  if (typeof e.code === 'string' && unavailablePrismaCodes.has(e.code)) return true;
  if (e.code === 'P2028' && typeof e.message === 'string' && e.message.includes('Unable to start a transaction in the given time')) return true;
  const adapterError = e.meta?.driverAdapterError ?? (e.name === 'DriverAdapterError' ? error : undefined);
  const cause = (adapterError as { cause?: { kind?: unknown; code?: unknown; originalCode?: unknown } } | undefined)?.cause;
  if (cause) {
    if (typeof cause.kind === 'string' && unavailableAdapterKinds.has(cause.kind)) return true;
    const sqlState = cause.originalCode ?? cause.code;
    if (cause.kind === 'postgres' && typeof sqlState === 'string' && unavailableSqlStates.test(sqlState)) return true;
  }
  return e.name === 'Error' && typeof e.message === 'string' && unavailableDriverMessages.test(e.message);
}
