import type { FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditRecord } from '../audit/audit-record.ts';
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import { type ContextDeps, createRequestContext, type RequestContext } from '../server/context.ts';
import { type ScopePermission, scopesAllow } from '../auth/smart-scopes.ts';
import { fhirError, toFhirError } from './operation-outcome.ts';

/**
 * The services of one FHIR request: exactly those a GraphQL request gets
 * (same access policy, care teams, audit trail), built from the token the
 * route's preHandler verified.
 * @throws FhirError 401/403 when the token was refused
 */
export async function fhirRequestContext(deps: ContextDeps, request: FastifyRequest): Promise<RequestContext> {
  try {
    return await createRequestContext(deps, request);
  } catch (error) {
    throw toFhirError(error);
  }
}

/**
 * Runs work with the request's services bound to one database transaction:
 * every write a service makes, and its audit records, commit together or not
 * at all. Services that open a transaction of their own join this one.
 * Their audit records are appended once, at the end and inside the
 * transaction, so the audit chain's lock is held for one append rather than
 * for the whole import. When the work fails, nothing is stored, and the
 * failure (with the reads and denials on the way) is audited as `action`.
 * @returns the work's result and the context, whose trail still holds the reads and denials to flush
 */
export async function inOneTransaction<T>(
  deps: ContextDeps,
  request: FastifyRequest,
  options: { timeoutMs: number; action: string },
  work: (context: RequestContext, tx: PrismaClient) => Promise<T>,
): Promise<{ result: T; context: RequestContext }> {
  const { db, auditLog } = deps;
  let context: RequestContext | undefined;
  try {
    const result = await db.prisma.$transaction(
      async (tx) => {
        const bound = joiningTransaction(tx);
        const pending: AuditRecord[] = [];
        context = await fhirRequestContext({ ...deps, db: { ...db, prisma: bound, replica: bound }, auditLog: deferringAppends(auditLog, pending) }, request);
        const value = await work(context, bound);
        await auditLog.appendWithin(tx, pending);
        return value;
      },
      { maxWait: 10_000, timeout: options.timeoutMs },
    );
    return { result, context: context! };
  } catch (error) {
    if (context) {
      const refusal = toFhirError(error);
      if (refusal.status !== 403) context.trail.failed(options.action, refusal.issues[0]?.code ?? 'exception', { resourceType: 'Bundle' });
      await context.trail.flush().catch(() => {});
    }
    throw error;
  }
}

/** A transaction client that services can use as their Prisma client: their own `$transaction` runs inside this one. */
function joiningTransaction(tx: Prisma.TransactionClient): PrismaClient {
  const join = (work: (client: Prisma.TransactionClient) => Promise<unknown>) => work(tx);
  return new Proxy(tx, { get: (target, key) => (key === '$transaction' ? join : Reflect.get(target, key)) }) as unknown as PrismaClient;
}

/** The audit log, with appends inside a transaction held back in `pending` (appended by the caller before commit). */
function deferringAppends(auditLog: AuditLog, pending: AuditRecord[]): AuditLog {
  const deferring: Pick<AuditLog, 'appendWithin' | 'append'> = {
    async appendWithin(_tx, records) {
      pending.push(...records);
    },
    // Reads and denials go to the log's own queue, as any request's do.
    append: (records) => auditLog.append(records),
  };
  return Object.assign(Object.create(auditLog) as AuditLog, deferring);
}

/** SMART scopes, when the token carries them, narrow what the role allows; a refusal is audited. */
export function requireScope(context: RequestContext, resourceType: string, permission: ScopePermission): void {
  const scopes = context.principal.smartScopes;
  if (!scopes || scopesAllow(scopes, resourceType, permission)) return;
  context.trail.denied(`fhir.${permission === 'c' ? 'create' : permission === 'u' ? 'update' : permission === 'r' ? 'read' : 'search'}`, 'smart-scope', { resourceType });
  throw fhirError(403, 'forbidden', `Your token's scopes do not allow ${permission} on ${resourceType}.`);
}

/** Appends what the request read; if the audit log cannot take it, the data is withheld (fail closed, as GraphQL does). */
export async function flushReads(context: RequestContext): Promise<void> {
  try {
    await context.trail.flush();
  } catch {
    context.log.error('audit log unavailable: FHIR response withheld');
    throw fhirError(503, 'transient', 'The audit log is unavailable, so the data is withheld. Try again shortly.');
  }
}
