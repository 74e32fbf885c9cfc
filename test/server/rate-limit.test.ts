import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorCodes, type GraphQLResponse, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const me = '{ me { subject } }';

function assertLimited(response: GraphQLResponse) {
  assert.equal(response.status, 429);
  assert.deepEqual(errorCodes(response), ['RATE_LIMITED']);
  const retryAfter = Number(response.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${response.headers.get('retry-after')}`);
}

// Servers start at the top level, so each stops after all tests of the file.
const api = await startTestServer({ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_ANONYMOUS_PER_MINUTE: '3' });
const shared = { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', RATE_LIMIT_PER_MINUTE: '6' };
const [first, second] = await Promise.all([startTestServer(shared), startTestServer(shared)]);

describe('rate limits in one process', () => {
  it('limits each token subject separately, with a coded error and Retry-After', async () => {
    const alice = api.as({ sub: 'alice', roles: ['clinician'] });
    for (let i = 0; i < 5; i++) assert.equal((await alice.gql(me)).status, 200);
    assertLimited(await alice.gql(me));
    assert.equal((await api.as({ sub: 'bob', roles: ['clinician'] }).gql(me)).status, 200, 'another subject is not affected');
  });

  it('limits requests without a valid token per client address', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await api.gql(me)).status, 401);
    assertLimited(await api.gql(me));
  });
});

describe('rate limits shared through Redis across replicas', () => {
  it('counts one subject’s requests to both servers together', async () => {
    const subject = { sub: `shared-${randomBytes(6).toString('hex')}`, roles: [people.clinician.roles[0]!] };
    for (let i = 0; i < 3; i++) {
      assert.equal((await first.as(subject).gql(me)).status, 200);
      assert.equal((await second.as(subject).gql(me)).status, 200);
    }
    assertLimited(await first.as(subject).gql(me));
    assertLimited(await second.as(subject).gql(me));
  });
});
