import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { isTransactionExpired } from '../db/errors.ts';
import { errorCode } from '../errors/errors.ts';

/** FHIR issue-type codes (http://hl7.org/fhir/R4/valueset-issue-type.html). */
export type IssueType = OperationOutcomeIssue['code'];

/**
 * A refusal of the FHIR API: the HTTP status and the OperationOutcome issues
 * the client gets, each naming the element at fault (`expression`).
 */
export class FhirError extends Error {
  override name = 'FhirError';
  constructor(
    readonly status: number,
    readonly issues: OperationOutcomeIssue[],
  ) {
    super(issues.map((issue) => issue.diagnostics).join('; '));
  }

  /** The same refusal with every expression placed under a prefix (e.g. `Bundle.entry[3].resource`). */
  under(prefix: string, resourceType?: string): FhirError {
    return new FhirError(
      this.status,
      this.issues.map((issue) => ({ ...issue, expression: (issue.expression ?? ['']).map((path) => relocate(path, prefix, resourceType)) })),
    );
  }
}

/** Moves `Observation.code` to `Bundle.entry[3].resource.code`; an empty path becomes the prefix. */
function relocate(path: string, prefix: string, resourceType: string | undefined): string {
  if (path === '') return prefix;
  if (resourceType && (path === resourceType || path.startsWith(`${resourceType}.`))) return prefix + path.slice(resourceType.length);
  return path.startsWith('Bundle.') ? path : `${prefix}.${path}`;
}

/** One error issue. */
function issue(code: IssueType, diagnostics: string, expression?: string): OperationOutcomeIssue {
  return { severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) };
}

export const fhirError = (status: number, code: IssueType, diagnostics: string, expression?: string) => new FhirError(status, [issue(code, diagnostics, expression)]);

export function operationOutcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** HTTP status and issue type of each coded service error (see src/errors/errors.ts). */
const byServiceCode: Record<string, [number, IssueType]> = {
  BAD_USER_INPUT: [422, 'invalid'],
  BAD_REQUEST: [400, 'invalid'],
  NOT_FOUND: [404, 'not-found'],
  CONFLICT: [409, 'conflict'],
  UNAUTHENTICATED: [401, 'login'],
  FORBIDDEN: [403, 'forbidden'],
  CONSENT_REQUIRED: [403, 'forbidden'],
  RATE_LIMITED: [429, 'throttled'],
  UNAVAILABLE: [503, 'transient'],
  TIMEOUT: [503, 'transient'],
};

/**
 * The FHIR refusal for an error thrown by a service (a coded GraphQLError) or
 * by this domain; anything uncoded is an internal error whose details stay in
 * the log, never in the answer.
 * @param expression the element the request was about, when the service's error does not say
 */
export function toFhirError(error: unknown, expression?: string): FhirError {
  if (error instanceof FhirError) return error;
  if (isTransactionExpired(error)) {
    return fhirError(503, 'timeout', 'The import ran longer than its transaction may last (FHIR_IMPORT_TIMEOUT_MS): nothing of it was stored. Send smaller Bundles.', expression);
  }
  const code = errorCode(error);
  const mapped = code ? byServiceCode[code] : undefined;
  if (!mapped) return fhirError(500, 'exception', 'Internal server error.', expression);
  return fhirError(mapped[0], mapped[1], (error as Error).message, expression);
}
