import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { auditEvents } from '../support/audit.ts';
import { startJwksServer } from '../support/jwks-server.ts';
import { errorCodes, type GraphQLResponse, startTestServer } from '../support/test-server.ts';
import { people, signToken, testKeys } from '../support/tokens.ts';

// Every server starts before the first test is declared: the runner starts tests while the
// module still evaluates, and a server started later would be stopped early.
const api = await startTestServer();
const idp = await startJwksServer();
const keycloak = await startTestServer({
  AUTH_PUBLIC_KEY: '',
  AUTH_JWKS_URL: idp.url,
  AUTH_ALGORITHMS: 'RS256',
  AUTH_ROLES_CLAIM: 'realm_access.roles',
});
const strict = await startTestServer({ AUTH_REQUIRED_TYP: 'at+jwt', AUTH_MAX_TOKEN_AGE_SECONDS: '60' });
// Points at a port nothing listens on.
const offlineIdp = await startTestServer({ AUTH_PUBLIC_KEY: '', AUTH_JWKS_URL: idp.url.replace(/:\d+\//, ':1/'), AUTH_ALGORITHMS: 'RS256' });
const query = '{ patients(first: 1) { totalCount } }';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function withToken(token: string, server = api): Promise<GraphQLResponse> {
  return server.gql(query, {}, { authorization: `Bearer ${token}` });
}

/** Asserts a refusal that tells the caller nothing but the code. */
function assertRefused(response: GraphQLResponse, code = 'UNAUTHENTICATED') {
  assert.equal(response.status, code === 'UNAUTHENTICATED' ? 401 : 403);
  assert.deepEqual(errorCodes(response), [code]);
  assert.equal(response.body.data, undefined);
  assert.equal(response.headers.get('www-authenticate'), 'Bearer');
  const message = response.body.errors![0]!.message;
  assert.doesNotMatch(message, /expired|signature|issuer|audience|algorithm|kid|claim/i, 'no detail that helps an attacker');
}

/** The reason recorded for the newest refused authentication. */
async function lastRefusalReason(server = api, auditor?: { gql: ReturnType<typeof api.as>['gql'] }): Promise<string | null> {
  const [latest] = await auditEvents(server, { action: 'auth.authenticate', outcome: 'DENIED' }, 1, auditor ?? server.as(people.auditor));
  return latest?.reason ?? null;
}

describe('JWT attacks: each is refused with a bare code and audited with its reason', () => {
  const now = () => Math.floor(Date.now() / 1000);

  const attacks: [string, () => Promise<Record<string, string>>, string][] = [
    ['no token', async () => ({}), 'missing-token'],
    ['a token that is not a JWT', async () => ({ authorization: 'Bearer not.a.jwt!' }), 'malformed-token'],
    ['garbage after Bearer', async () => ({ authorization: 'Bearer eyJhbGciOi' }), 'malformed-token'],
    ['Basic credentials', async () => ({ authorization: 'Basic YWRtaW46YWRtaW4=' }), 'malformed-token'],
    [
      'alg: none',
      async () => ({
        authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', roles: ['admin'], exp: now() + 600, iss: 'https://idp.test.clinigraph', aud: 'clinigraph-api' })}.`,
      }),
      'algorithm-not-allowed',
    ],
    [
      'HS256 signed with the server’s public key as the secret (algorithm confusion)',
      async () => {
        const secret = new TextEncoder().encode((await testKeys()).publicKeyPem);
        const token = await new SignJWT({ roles: ['admin'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('mallory')
          .setIssuer('https://idp.test.clinigraph')
          .setAudience('clinigraph-api')
          .setExpirationTime('5m')
          .sign(secret);
        return { authorization: `Bearer ${token}` };
      },
      'algorithm-not-allowed',
    ],
    ['expired', async () => ({ authorization: `Bearer ${await signToken(people.admin, { claims: { exp: now() - 3600 } })}` }), 'expired'],
    [
      'not yet valid',
      async () => ({ authorization: `Bearer ${await signToken(people.admin, { claims: { nbf: now() + 3600 } })}` }),
      'not-yet-valid',
    ],
    [
      'wrong issuer',
      async () => ({ authorization: `Bearer ${await signToken(people.admin, { claims: { iss: 'https://evil.example' } })}` }),
      'wrong-issuer',
    ],
    [
      'wrong audience',
      async () => ({ authorization: `Bearer ${await signToken(people.admin, { claims: { aud: 'another-api' } })}` }),
      'wrong-audience',
    ],
    [
      'payload tampered after signing (clinician promotes self to admin)',
      async () => {
        const [header, payload, signature] = (await signToken(people.clinician)).split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
        return { authorization: `Bearer ${header}.${b64({ ...claims, roles: ['admin'] })}.${signature}` };
      },
      'bad-signature',
    ],
    [
      'no subject',
      async () => {
        const token = await new SignJWT({ roles: ['admin'] })
          .setProtectedHeader({ alg: 'ES256' })
          .setIssuer('https://idp.test.clinigraph')
          .setAudience('clinigraph-api')
          .setExpirationTime('5m')
          .sign((await testKeys()).privateKey);
        return { authorization: `Bearer ${token}` };
      },
      'missing-claim',
    ],
    [
      'no expiry',
      async () => {
        const token = await new SignJWT({ roles: ['admin'] })
          .setProtectedHeader({ alg: 'ES256' })
          .setSubject('forever')
          .setIssuer('https://idp.test.clinigraph')
          .setAudience('clinigraph-api')
          .sign((await testKeys()).privateKey);
        return { authorization: `Bearer ${token}` };
      },
      'missing-claim',
    ],
  ];

  for (const [name, headers, reason] of attacks) {
    it(`refuses ${name}`, async () => {
      const response = await api.gql(query, {}, await headers());
      assertRefused(response);
      assert.equal(await lastRefusalReason(), reason);
    });
  }

  it('refuses a validly signed token without a roles claim, or with only roles it does not know, as FORBIDDEN', async () => {
    assertRefused(await withToken(await signToken({ sub: 'no-roles', roles: [] }, { claims: { roles: undefined } })), 'FORBIDDEN');
    assert.equal(await lastRefusalReason(), 'no-roles-claim');
    assertRefused(await withToken(await signToken({ sub: 'root', roles: ['superuser', 'god'] })), 'FORBIDDEN');
    assert.equal(await lastRefusalReason(), 'no-known-role');
    const [record] = await auditEvents(api, { action: 'auth.authenticate' }, 1);
    assert.equal(record!.actorSubject, 'root', 'a verified subject is recorded even when it has no role');
  });

  it('records refusals of unverified tokens under "anonymous", with request metadata and no token', async () => {
    const probe = await api.gql('query Probe { patients(first: 1) { totalCount } }', {}, { authorization: 'Bearer x.y.z', 'user-agent': 'attack-tool/1.0', 'x-request-id': 'probe-42' });
    const [record] = await auditEvents(api, { action: 'auth.authenticate' }, 1);
    assert.equal(record!.actorSubject, 'anonymous');
    assert.equal(record!.outcome, 'DENIED');
    assert.equal(record!.requestId, probe.headers.get('x-request-id'), 'the server’s own id, not the one the client sent');
    assert.equal(record!.operationName, 'Probe');
    assert.equal(record!.userAgent, 'attack-tool/1.0');
    assert.match(record!.queryHash!, /^[0-9a-f]{64}$/);
    assert.equal(record!.clientAddress, '127.0.0.1');
  });

  it('accepts a well-formed token and answers', async () => {
    const response = await withToken(await signToken(people.admin));
    assert.equal(response.status, 200);
    assert.equal(response.body.errors, undefined);
  });

  it('tolerates small clock skew but not more', async () => {
    const skewed = await signToken(people.admin, { claims: { nbf: Math.floor(Date.now() / 1000) + 10 } });
    assert.equal((await withToken(skewed)).status, 200);
  });
});

describe('keys from a JWKS URL (Keycloak-style roles in realm_access.roles)', () => {
  it('accepts tokens signed with a published key and reads roles from the nested claim, ignoring roles it does not know', async () => {
    const response = await keycloak.gql('{ me { subject roles } }', {}, { authorization: `Bearer ${await idp.sign('kc-user', ['admin'])}` });
    assert.deepEqual(response.body.data, { me: { subject: 'kc-user', roles: ['admin'] } });
  });

  const auditor = {
    gql: async (q: string, v?: Record<string, unknown>) =>
      keycloak.gql(q, v, { authorization: `Bearer ${await idp.sign('kc-auditor', ['auditor'])}` }),
  } as { gql: ReturnType<typeof api.as>['gql'] };

  it('refuses a token whose kid the identity provider does not publish', async () => {
    const response = await withToken(await idp.sign('kc-user', ['admin'], { kid: 'stolen-key' }), keycloak);
    assertRefused(response);
    assert.equal(await lastRefusalReason(keycloak, auditor), 'unknown-key');
  });

  it('answers UNAVAILABLE, not UNAUTHENTICATED, while the identity provider cannot be reached', async () => {
    const unreachable = await fetch(idp.url.replace(/:\d+\//, ':1/')).catch(() => 'down');
    assert.equal(unreachable, 'down');
    const response = await offlineIdp.gql('{ me { subject } }', {}, { authorization: `Bearer ${await idp.sign('kc-user', ['admin'])}` });
    assert.equal(response.status, 503);
    assert.deepEqual(errorCodes(response), ['UNAVAILABLE']);
  });

  it("refuses a token signed by the test key that the identity provider does not know", async () => {
    const response = await withToken(await signToken(people.admin), keycloak);
    assertRefused(response);
  });
});

describe('optional checks: typ and maximum token age', () => {  const auditor = {
    gql: async (q: string, v?: Record<string, unknown>) =>
      strict.gql(q, v, { authorization: `Bearer ${await signToken(people.auditor, { header: { typ: 'at+jwt' } })}` }),
  } as { gql: ReturnType<typeof api.as>['gql'] };

  it('refuses a token of another type', async () => {
    assertRefused(await withToken(await signToken(people.admin), strict));
    assert.equal(await lastRefusalReason(strict, auditor), 'wrong-type');
    const right = await signToken(people.admin, { header: { typ: 'at+jwt' } });
    assert.equal((await withToken(right, strict)).status, 200);
  });

  it('refuses a token issued longer ago than the maximum age', async () => {
    const old = await signToken(people.admin, { header: { typ: 'at+jwt' }, claims: { iat: Math.floor(Date.now() / 1000) - 600 } });
    assertRefused(await withToken(old, strict));
    assert.equal(await lastRefusalReason(strict, auditor), 'too-old');
  });
});
