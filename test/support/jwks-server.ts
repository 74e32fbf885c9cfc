import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { testAudience, testIssuer } from './tokens.ts';

/**
 * A stand-in for an identity provider such as Keycloak: serves its public
 * keys as a JWKS over HTTP on loopback and signs tokens with them (RS256,
 * with a `kid`), putting roles where Keycloak does (realm_access.roles).
 */
export async function startJwksServer() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = 'realm-key-1';
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const server = createServer((request, response) => {
    if (request.url === '/realms/hospital/protocol/openid-connect/certs') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/realms/hospital/protocol/openid-connect/certs`,
    sign(sub: string, roles: string[], options: { kid?: string; claims?: JWTPayload } = {}) {
      return new SignJWT({ realm_access: { roles: [...roles, 'offline_access', 'uma_authorization'] }, ...options.claims })
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? kid, typ: 'JWT' })
        .setSubject(sub)
        .setIssuer(testIssuer)
        .setAudience(testAudience)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    },
  };
}
