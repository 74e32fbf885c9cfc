import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import type { Role } from '../access/principal.ts';

/*
 * A local ES256 key for development only: the server verifies with it when no
 * identity provider is configured, and `npm run token` signs with it. It is
 * created on first use in DATA_DIR and refused in production mode.
 */
const algorithm = 'ES256';
const keyFile = (dataDir: string) => path.join(dataDir, 'dev-keys', 'jwt-es256.json');

export interface DevelopmentKey {
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
  kid: string;
}

/** Loads the development key from DATA_DIR, creating it the first time. */
export async function developmentKey(dataDir: string): Promise<DevelopmentKey> {
  const file = keyFile(dataDir);
  let jwk = await readFile(file, 'utf8').then((text) => JSON.parse(text) as JWK, () => undefined);
  if (!jwk) {
    const pair = await generateKeyPair(algorithm, { extractable: true });
    jwk = { ...(await exportJWK(pair.privateKey)), kid: `dev-${Date.now().toString(36)}`, alg: algorithm };
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(jwk), { mode: 0o600 });
    await chmod(file, 0o600);
  }
  const { d: _private, ...publicJwk } = jwk;
  return {
    privateKey: (await importJWK(jwk, algorithm)) as webcrypto.CryptoKey,
    publicKey: (await importJWK(publicJwk, algorithm)) as webcrypto.CryptoKey,
    kid: jwk.kid ?? 'dev',
  };
}

export interface TokenRequest {
  subject: string;
  roles: Role[];
  issuer: string;
  audience: string;
  expiresIn: string;
  extraClaims?: Record<string, unknown>;
}

/** Signs a development token (`npm run token`). */
export async function mintDevelopmentToken(key: DevelopmentKey, request: TokenRequest): Promise<string> {
  return new SignJWT({ roles: request.roles, ...request.extraClaims })
    .setProtectedHeader({ alg: algorithm, kid: key.kid, typ: 'JWT' })
    .setSubject(request.subject)
    .setIssuer(request.issuer)
    .setAudience(request.audience)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime(request.expiresIn)
    .sign(key.privateKey);
}
