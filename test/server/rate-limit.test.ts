import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { auditEvents } from '../support/audit.ts';
import { freePort } from '../support/free-port.ts';
import { errorCodes, type GraphQLResponse, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const me = '{ me { subject } }';

function assertLimited(response: GraphQLResponse) {
  assert.equal(response.status, 429);
  assert.deepEqual(errorCodes(response), ['RATE_LIMITED']);
  const retryAfter = Number(response.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${response.headers.get('retry-after')}`);
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

// CI sets REDIS_URL, so there a missing Redis fails the shared-limit test instead of skipping it.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const noRedis = !process.env.REDIS_URL && !(await redisAnswers(redisUrl)) && `no Redis answers at ${redisUrl} (start one, or set REDIS_URL)`;

// Servers start at the top level, so each stops after all tests of the file.
const api = await startTestServer({ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_ANONYMOUS_PER_MINUTE: '3' });
const shared = { REDIS_URL: redisUrl, RATE_LIMIT_PER_MINUTE: '6' };
const [first, second] = noRedis ? [] : await Promise.all([startTestServer(shared), startTestServer(shared)]);
const redisAwayLog: { level: number; msg: string }[] = [];
const redisAway = await startTestServer(
  { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_PER_MINUTE: '2' },
  pino({ level: 'warn' }, { write: (line: string) => void redisAwayLog.push(JSON.parse(line)) }),
);

describe('rate limits in one process', () => {
  it('limits each token subject separately, with a coded error and Retry-After', async () => {
    const alice = api.as({ sub: 'alice', roles: ['clinician'] });
    for (let i = 0; i < 5; i++) assert.equal((await alice.gql(me)).status, 200);
    assertLimited(await alice.gql(me));
    assert.equal((await api.as({ sub: 'bob', roles: ['clinician'] }).gql(me)).status, 200, 'another subject is not affected');
  });

  it('limits requests without a valid token per client address, and audits only the refusals it answered', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await api.gql(me)).status, 401);
    assertLimited(await api.gql(me));
    // A flood of bad tokens must not become a flood of audit appends (each one takes the chain's lock).
    for (let i = 0; i < 20; i++) assert.equal((await api.gql(me, {}, { authorization: `Bearer not-a-token-${i}` })).status, 429);
    const refusals = await auditEvents(api, { action: 'auth.authenticate', outcome: 'DENIED' });
    assert.deepEqual(
      refusals.map((event) => event.reason),
      ['missing-token', 'missing-token', 'missing-token'],
    );
  });
});

describe('rate limits shared through Redis across replicas', { skip: noRedis }, () => {
  it('counts one subject’s requests to both servers together', async () => {
    const subject = { sub: `shared-${randomBytes(6).toString('hex')}`, roles: [people.clinician.roles[0]!] };
    for (let i = 0; i < 3; i++) {
      assert.equal((await first!.as(subject).gql(me)).status, 200);
      assert.equal((await second!.as(subject).gql(me)).status, 200);
    }
    assertLimited(await first!.as(subject).gql(me));
    assertLimited(await second!.as(subject).gql(me));
  });
});

describe('rate limits while Redis is away', () => {
  it('keeps answering (unlimited) and logs the outage once, not once a request', async () => {
    const clinician = redisAway.as(people.clinician);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await clinician.gql(me)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200], 'over the limit of 2, yet answered: the limit store is away');
    const outages = redisAwayLog.filter((line) => /rate-limit store/.test(line.msg));
    assert.equal(outages.length, 1, JSON.stringify(redisAwayLog));
    assert.equal(outages[0]!.level, 40, 'a warning');
  });
});
