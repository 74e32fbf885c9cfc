import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { cachingTokenVerifier } from '../../src/auth/token-cache.ts';
import type { TokenVerifier } from '../../src/auth/token-verifier.ts';
import { auditEvents } from '../support/audit.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people, signToken } from '../support/tokens.ts';

// No clock tolerance: a token is refused the second its exp passes.
const api = await startTestServer({ AUTH_CLOCK_TOLERANCE_SECONDS: '0' });
const query = '{ patients(first: 1) { totalCount } }';

/** A verifier that accepts any token and counts how often it was asked. */
function countingVerifier(exp = Math.floor(Date.now() / 1000) + 600): TokenVerifier & { calls: number } {
  const counting = {
    calls: 0,
    async verify(token: string) {
      counting.calls++;
      return { subject: token, roles: [], hasRolesClaim: true, smartScopes: undefined, claims: { sub: token, exp, iat: Math.floor(Date.now() / 1000) } };
    },
  };
  return counting;
}

describe('verified-token cache', () => {
  it('refuses a cached token once it has expired, and audits why', async () => {
    const token = await signToken(people.admin, { expiresIn: 5 });
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
    const headers = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 3; i++) assert.equal((await api.gql(query, {}, headers)).status, 200);
    await sleep(exp * 1000 + 100 - Date.now());
    const late = await api.gql(query, {}, headers);
    assert.equal(late.status, 401);
    assert.deepEqual(errorCodes(late), ['UNAUTHENTICATED']);
    assert.equal(late.body.data, undefined);
    const [refusal] = await auditEvents(api, { action: 'auth.authenticate', outcome: 'DENIED' }, 1, api.as(people.auditor));
    assert.equal(refusal?.reason, 'expired');
  });

  it('does not let a forged signature ride on a cached token', async () => {
    const token = await signToken(people.admin);
    assert.equal((await api.gql(query, {}, { authorization: `Bearer ${token}` })).status, 200);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const otherSignature = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    const forged = await api.gql(query, {}, { authorization: `Bearer ${header}.${payload}.${otherSignature}` });
    assert.equal(forged.status, 401);
    // A payload claiming more roles under the cached token's signature is refused too.
    const escalated = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), roles: ['admin', 'auditor'] })).toString('base64url');
    assert.equal((await api.gql(query, {}, { authorization: `Bearer ${header}.${escalated}.${signature}` })).status, 401);
  });

  it('verifies a token once, until the least recently used goes when the cache is full', async () => {
    const inner = countingVerifier();
    const cache = cachingTokenVerifier(inner, { entries: 2, maxSeconds: 300, maxTokenAgeSeconds: undefined });
    for (const token of ['a', 'a', 'b', 'a', 'b']) await cache.verify(token);
    assert.equal(inner.calls, 2);
    await cache.verify('c'); // evicts a (b was used last)
    await cache.verify('b');
    assert.equal(inner.calls, 3);
    await cache.verify('a');
    assert.equal(inner.calls, 4);
  });

  it('holds a token no longer than its exp, its maximum age and the cache limit', async () => {
    const expired = countingVerifier(Math.floor(Date.now() / 1000) - 1);
    const expiredCache = cachingTokenVerifier(expired, { entries: 10, maxSeconds: 300, maxTokenAgeSeconds: undefined });
    await expiredCache.verify('t');
    await expiredCache.verify('t');
    assert.equal(expired.calls, 2, 'a token past its exp is never held');

    const aged = countingVerifier();
    const agedCache = cachingTokenVerifier(aged, { entries: 10, maxSeconds: 300, maxTokenAgeSeconds: 0 });
    await agedCache.verify('t');
    await agedCache.verify('t');
    assert.equal(aged.calls, 2, 'a token past its maximum age is never held');

    const limited = countingVerifier();
    const limitedCache = cachingTokenVerifier(limited, { entries: 10, maxSeconds: 1, maxTokenAgeSeconds: undefined });
    await limitedCache.verify('t');
    await limitedCache.verify('t');
    assert.equal(limited.calls, 1);
    await sleep(1100);
    await limitedCache.verify('t');
    assert.equal(limited.calls, 2, 'verified again after AUTH_TOKEN_CACHE_SECONDS');
  });

  it('does not cache refusals', async () => {
    let calls = 0;
    const refusing = cachingTokenVerifier(
      {
        async verify() {
          calls++;
          throw new Error('refused');
        },
      },
      { entries: 10, maxSeconds: 300, maxTokenAgeSeconds: undefined },
    );
    await assert.rejects(refusing.verify('t'));
    await assert.rejects(refusing.verify('t'));
    assert.equal(calls, 2);
  });
});
