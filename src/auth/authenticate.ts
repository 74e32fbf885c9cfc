import type { GraphQLError } from 'graphql';
import { codedError, ErrorCode } from '../errors/errors.ts';
import { isId } from '../graphql/validation.ts';
import type { AuthConfig } from '../config/config.ts';
import { claimAt, AuthenticationFailure, type TokenVerifier } from './token-verifier.ts';
import { isPurposeOfUse, type Principal, purposesOfUse } from '../access/principal.ts';

/** HTTP headers a request may carry; only these two matter here. */
export interface AuthHeaders {
  authorization?: string | undefined;
  purposeOfUse?: string | undefined;
}

/** Why a token was refused, for the audit log; `subject` only when the token's signature was verified. */
export interface Refusal {
  reason: string;
  subject?: string;
}

/** Who the request is, or the error to answer with (and, for a refused token, why). */
export type AuthenticationResult = { principal: Principal } | { error: GraphQLError; refusal?: Refusal };

/**
 * Turns a request's bearer token into a principal, or refuses the request
 * with UNAUTHENTICATED (HTTP 401) or FORBIDDEN (403: a valid token with no
 * clinigraph role), and nothing more specific. Recording the refusal is the
 * caller's: it comes after rate limiting, so a flood of bad tokens cannot
 * flood the audit log.
 */
export async function authenticate(headers: AuthHeaders, verifier: TokenVerifier, auth: AuthConfig): Promise<AuthenticationResult> {
  const refuse = (reason: string, code: ErrorCode, status: number, subject?: string): AuthenticationResult => {
    const messages: Partial<Record<ErrorCode, string>> = {
      [ErrorCode.FORBIDDEN]: 'Your token is valid but carries no clinigraph role.',
      [ErrorCode.UNAVAILABLE]: 'Tokens cannot be checked right now (identity provider unreachable). Try again shortly.',
    };
    const message = messages[code] ?? 'Authentication required: send a valid bearer token.';
    const error = codedError(code, message, { http: { status, headers: new Map([['www-authenticate', 'Bearer']]) } });
    return { error, refusal: subject === undefined ? { reason } : { reason, subject } };
  };

  const match = /^Bearer ([^\s]+)$/i.exec(headers.authorization?.trim() ?? '');
  if (!match) return refuse(headers.authorization ? 'malformed-token' : 'missing-token', ErrorCode.UNAUTHENTICATED, 401);
  let verified;
  try {
    verified = await verifier.verify(match[1]!);
  } catch (error) {
    const reason = error instanceof AuthenticationFailure ? error.reason : 'malformed-token';
    // The identity provider's keys cannot be fetched: the token may be fine, so do not send the user to log in again.
    if (reason === 'key-source-unavailable') return refuse(reason, ErrorCode.UNAVAILABLE, 503);
    return refuse(reason, ErrorCode.UNAUTHENTICATED, 401);
  }
  if (!verified.hasRolesClaim) return refuse('no-roles-claim', ErrorCode.FORBIDDEN, 403, verified.subject);
  if (verified.roles.length === 0) return refuse('no-known-role', ErrorCode.FORBIDDEN, 403, verified.subject);

  // The identity provider's claim wins over the header; a bad header is the caller's to fix.
  const claimed = claimAt(verified.claims, auth.purposeClaim);
  const requested = headers.purposeOfUse?.trim().toUpperCase();
  if (requested && !isPurposeOfUse(requested)) {
    return { error: codedError(ErrorCode.BAD_USER_INPUT, `X-Purpose-Of-Use must be one of ${purposesOfUse.join(', ')}.`, { http: { status: 400 } }) };
  }
  // Neither stated: each audit record names the purpose of the role and action (purposeOfUseFor).
  const purposeOfUse = isPurposeOfUse(claimed) ? claimed : requested && isPurposeOfUse(requested) ? requested : null;
  const smartScopes = verified.smartScopes ? { smartScopes: verified.smartScopes } : {};
  const patient = verified.claims.patient;
  // Only a patient id can name the launch patient; anything else counts as no claim (refused as such, not a database error).
  const launchPatient = verified.smartScopes && typeof patient === 'string' && isId(patient) ? { launchPatient: patient.toLowerCase() } : {};
  return { principal: { subject: verified.subject, roles: verified.roles, purposeOfUse, ...smartScopes, ...launchPatient } };
}
