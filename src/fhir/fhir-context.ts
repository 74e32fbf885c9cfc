import type { FastifyRequest } from 'fastify';
import { inJoinedTransaction } from '../access/joined-transaction.ts';
import { type ContextDeps, createRequestContext, type RequestContext } from '../server/context.ts';
import { type ScopePermission, scopeGrant } from '../access/smart-scopes.ts';
import type { Action } from '../access/permissions.ts';
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
 * Runs work with the request's services bound to one database transaction
 * (see inJoinedTransaction): every write and its audit records commit
 * together or not at all. When the work fails, nothing is stored, and the
 * failure (with the reads and denials on the way) is audited as `action`.
 * @returns the work's result and the context, whose trail still holds the reads and denials to flush
 */
export async function inOneTransaction<T>(
  deps: ContextDeps,
  request: FastifyRequest,
  options: { timeoutMs: number; action: Action },
  work: (context: RequestContext) => Promise<T>,
): Promise<{ result: T; context: RequestContext }> {
  let context: RequestContext | undefined;
  try {
    const result = await inJoinedTransaction(deps, options.timeoutMs, async (bound) => {
      context = await fhirRequestContext(bound, request);
      return work(context);
    });
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

/**
 * SMART scopes, when the token carries them, narrow what the role allows: an
 * interaction no scope allows is refused, and one only `patient/` scopes
 * allow is confined to the token's launch patient (its `patient` claim) in
 * the access layer, so every read of the request reaches that patient alone;
 * without the claim it is refused. A refusal is audited.
 * @param confinable false for work that does not run under this request's access policy (a bulk export), which a `patient/` scope cannot allow
 */
export function requireScope(context: RequestContext, resourceType: string, permission: ScopePermission, confinable = true): void {
  const scopes = context.principal.smartScopes;
  if (!scopes) return;
  const grant = scopeGrant(scopes, resourceType, permission);
  if (grant === 'all') return;
  const action = `fhir.${permission === 'c' ? 'create' : permission === 'u' ? 'update' : permission === 'r' ? 'read' : 'search'}` as const;
  const patient = context.principal.launchPatient;
  if (grant === 'patient' && patient && confinable) return context.scope.access.confineTo(patient);
  context.trail.denied(action, grant === 'none' ? 'smart-scope' : 'smart-launch-context', { resourceType });
  if (grant === 'none') throw fhirError(403, 'forbidden', `Your token's scopes do not allow ${permission} on ${resourceType}.`);
  throw fhirError(403, 'forbidden', patient ? `patient/ scopes reach one patient; this needs a user/ or system/ scope for ${resourceType}.` : `Your token's patient/ scopes need its patient claim (the SMART launch context) to name the patient they reach.`);
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
