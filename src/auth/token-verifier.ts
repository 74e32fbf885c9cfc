import { createPublicKey, type KeyObject, type webcrypto } from 'node:crypto';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config/config.ts';
import { isStorableText } from '../db/storable-text.ts';
import { developmentKey } from './development-key.ts';
import { isRole, type Role } from '../access/principal.ts';

/**
 * Why a token was refused. Goes to the audit log only; the client is told
 * nothing beyond "not authenticated", which gives an attacker nothing to tune.
 */
export type AuthFailureReason =
  | 'missing-token'
  | 'malformed-token'
  | 'bad-signature'
  | 'algorithm-not-allowed'
  | 'unknown-key'
  | 'expired'
  | 'not-yet-valid'
  | 'too-old'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'wrong-type'
  | 'missing-claim'
  | 'key-source-unavailable';

export class AuthenticationFailure extends Error {
  override name = 'AuthenticationFailure';
  constructor(readonly reason: AuthFailureReason) {
    super(reason);
  }
}

export interface VerifiedToken {
  subject: string;
  /** Roles clinigraph knows, from the configured claim; others are dropped. */
  roles: Role[];
  /** False when the configured roles claim is absent or not a list of strings. */
  hasRolesClaim: boolean;
  claims: JWTPayload;
}

export interface TokenVerifier {
  /** @throws AuthenticationFailure */
  verify(token: string): Promise<VerifiedToken>;
}

/**
 * Builds the verifier following RFC 8725: explicit algorithm allow-list,
 * issuer and audience always checked, exp and sub required, optional typ and
 * maximum age, small clock tolerance.
 */
export async function createTokenVerifier(auth: AuthConfig, dataDir: string): Promise<TokenVerifier> {
  const key = await verificationKey(auth, dataDir);
  const options = {
    algorithms: auth.algorithms,
    issuer: auth.issuer,
    audience: auth.audience,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: auth.clockToleranceSeconds,
    ...(auth.requiredTyp ? { typ: auth.requiredTyp } : {}),
    ...(auth.maxTokenAgeSeconds ? { maxTokenAge: auth.maxTokenAgeSeconds } : {}),
  };
  return {
    async verify(token) {
      if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) throw new AuthenticationFailure('malformed-token');
      let payload: JWTPayload;
      try {
        // jose's overloads differ only in the key's type; both forms verify the same way.
        ({ payload } = await jwtVerify(token, key as JWTVerifyGetKey, options));
      } catch (error) {
        throw new AuthenticationFailure(failureReason(error));
      }
      // A subject no text column can store would fail at its first audit record, as a server error.
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256 || !isStorableText(payload.sub)) {
        throw new AuthenticationFailure('missing-claim');
      }
      const claimed = claimAt(payload, auth.rolesClaim);
      const listed = Array.isArray(claimed) && claimed.every((role) => typeof role === 'string');
      return {
        subject: payload.sub,
        roles: listed ? [...new Set((claimed as string[]).filter(isRole))] : [],
        hasRolesClaim: listed,
        claims: payload,
      };
    },
  };
}

async function verificationKey(auth: AuthConfig, dataDir: string): Promise<JWTVerifyGetKey | KeyObject | Uint8Array | webcrypto.CryptoKey> {
  const source = auth.keySource;
  switch (source.kind) {
    case 'jwks':
      return createRemoteJWKSet(new URL(source.url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    case 'public-key':
      return createPublicKey(source.pem);
    case 'hmac':
      return new TextEncoder().encode(source.secret);
    case 'development':
      return (await developmentKey(dataDir)).publicKey;
  }
}

/** Reads a claim by name or dotted path (e.g. realm_access.roles for Keycloak). */
export function claimAt(payload: JWTPayload, claimPath: string): unknown {
  return claimPath.split('.').reduce<unknown>((value, part) => {
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }, payload);
}

function failureReason(error: unknown): AuthFailureReason {
  // jose reports an exceeded maximum token age as an expired iat.
  if (error instanceof errors.JWTExpired) return error.claim === 'iat' ? 'too-old' : 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'wrong-issuer';
      case 'aud':
        return 'wrong-audience';
      case 'nbf':
        return 'not-yet-valid';
      case 'iat':
        return error.reason === 'check_failed' ? 'too-old' : 'malformed-token';
      case 'typ':
        return 'wrong-type';
      default:
        return 'missing-claim';
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return 'algorithm-not-allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad-signature';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return 'unknown-key';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'key-source-unavailable';
  // A JWKS fetch that fails outright surfaces as fetch's own TypeError.
  if (error instanceof TypeError && /fetch/i.test(error.message)) return 'key-source-unavailable';
  if (error instanceof TypeError) return 'algorithm-not-allowed'; // the key's type does not fit the token's algorithm
  return 'malformed-token';
}
