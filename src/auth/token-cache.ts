import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { TokenVerifier, VerifiedToken } from './token-verifier.ts';

export interface TokenCacheOptions {
  /** Most tokens kept (least recently used go first). */
  entries: number;
  /** Longest a verified token is trusted without checking its signature again. */
  maxSeconds: number;
  /** The configured maximum token age (AUTH_MAX_TOKEN_AGE_SECONDS), if any. */
  maxTokenAgeSeconds: number | undefined;
}

interface Held {
  token: VerifiedToken;
  /** Date.now() after which the token must be verified anew. */
  until: number;
}

/**
 * Wraps a verifier so a token verified once is not verified again on each
 * request (an ES256 signature check was the largest single cost of a cheap
 * read). A token is held at most until its `exp` (without the clock
 * tolerance), until its `iat` plus the maximum token age, and at most
 * `maxSeconds`, so an expired token is always verified again (and refused),
 * and a signing key withdrawn from a JWKS stops working within `maxSeconds`.
 * Keyed by a SHA-256 of the token: a token that differs in any byte, its
 * signature included, is verified on its own; no bearer token is kept in
 * memory. Refusals are not cached: each is verified and audited.
 */
export function cachingTokenVerifier(verifier: TokenVerifier, options: TokenCacheOptions): TokenVerifier {
  const held = new LRUCache<string, Held>({ max: options.entries });
  return {
    async verify(token) {
      const key = createHash('sha256').update(token).digest('base64url');
      const now = Date.now();
      const known = held.get(key);
      if (known && now < known.until) return known.token;
      const verified = await verifier.verify(token);
      const until = heldUntil(verified, now, options);
      if (until > now) held.set(key, { token: verified, until });
      else held.delete(key);
      return verified;
    },
  };
}

function heldUntil({ claims }: VerifiedToken, now: number, options: TokenCacheOptions): number {
  const limits = [now + options.maxSeconds * 1000];
  // exp is required by the verifier; iat only when a maximum age is configured.
  if (typeof claims.exp === 'number') limits.push(claims.exp * 1000);
  if (options.maxTokenAgeSeconds !== undefined && typeof claims.iat === 'number') limits.push((claims.iat + options.maxTokenAgeSeconds) * 1000);
  return Math.min(...limits);
}
