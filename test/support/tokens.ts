import type { webcrypto } from 'node:crypto';
import { exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

/** Issuer and audience the test servers are configured with. */
export const testIssuer = 'https://idp.test.clinigraph';
export const testAudience = 'clinigraph-api';

export interface TestKeys {
  privateKey: webcrypto.CryptoKey;
  publicKeyPem: string;
}

let keys: Promise<TestKeys> | undefined;

/** One ES256 key pair per test process, standing in for an identity provider's signing key. */
export function testKeys(): Promise<TestKeys> {
  keys ??= (async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    return { privateKey: pair.privateKey, publicKeyPem: await exportSPKI(pair.publicKey) };
  })();
  return keys;
}

export interface Identity {
  sub: string;
  roles: string[];
}

/** Signs a token the way the test identity provider would; `overrides` change any claim or header. */
export async function signToken(
  identity: Identity,
  overrides: { claims?: JWTPayload; header?: Record<string, unknown>; expiresIn?: string | number } = {},
): Promise<string> {
  const { privateKey } = await testKeys();
  const now = Math.floor(Date.now() / 1000);
  const expiresIn = overrides.expiresIn ?? 600;
  const exp = typeof expiresIn === 'number' ? (expiresIn > 1e9 || expiresIn < 0 ? expiresIn : now + expiresIn) : undefined;
  const payload: JWTPayload = { sub: identity.sub, iss: testIssuer, aud: testAudience, iat: now, roles: identity.roles, ...(exp ? { exp } : {}) };
  const jwt = new SignJWT({ ...payload, ...overrides.claims }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...overrides.header });
  if (typeof expiresIn === 'string') jwt.setExpirationTime(expiresIn);
  return jwt.sign(privateKey);
}

/** Identities used across the suite. */
export const people = {
  admin: { sub: 'admin-ada', roles: ['admin'] },
  clinician: { sub: 'dr-carter', roles: ['clinician'] },
  otherClinician: { sub: 'dr-outsider', roles: ['clinician'] },
  auditor: { sub: 'auditor-abe', roles: ['auditor'] },
  dataScientist: { sub: 'ds-dana', roles: ['data_scientist'] },
} satisfies Record<string, Identity>;
