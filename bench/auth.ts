import { randomUUID } from 'node:crypto';
import { auditRecord, canonicalAuditRecord } from '../src/audit/audit-record.ts';
import { leafHash } from '../src/audit/merkle.ts';
import { cachingTokenVerifier } from '../src/auth/token-cache.ts';
import { createTokenVerifier } from '../src/auth/token-verifier.ts';
import { loadConfig } from '../src/config/config.ts';
import type { BenchContext } from './lib/context.ts';
import { fmt, log, table, verdict } from './lib/report.ts';
import { clinigraphEnv } from './lib/servers.ts';

/** Mean microseconds per call of `work` over `iterations` calls, after a warm-up of a tenth as many. */
async function microsPerCall(iterations: number, work: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < iterations / 10; i++) await work(i);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await work(i);
  return ((performance.now() - started) * 1000) / iterations;
}

/**
 * Issue 3's per-request cost of authentication and audit, in process (no
 * HTTP, no database): verifying the request's bearer token as the server
 * does (ES256, issuer, audience, exp and sub required), and again from the
 * verified-token cache the server keeps it in until its expiry, and building and
 * hashing one audit record into its Merkle leaf. The database side of the audit
 * (the grouped append) is in the read benchmark's audit on/off figures.
 */
export async function authBenchmark(ctx: BenchContext): Promise<void> {
  const iterations = ctx.settings.short ? 2_000 : 20_000;
  const config = loadConfig(await clinigraphEnv({ dataDir: await ctx.tempDir('auth') }));
  const verifier = await createTokenVerifier(config.auth, config.dataDir);
  log(`auth and audit: ${iterations} token verifications and audit records, in process`);
  const verifyMicros = await microsPerCall(iterations, () => verifier.verify(ctx.tokens.clinician));
  const cached = cachingTokenVerifier(verifier, { entries: 10, maxSeconds: 300, maxTokenAgeSeconds: undefined });
  const cachedMicros = await microsPerCall(iterations, () => cached.verify(ctx.tokens.clinician));

  const actor = { subject: ctx.tokens.clinicianSubject, roles: ['clinician'], purposeOfUse: 'TREAT' };
  const meta = { requestId: randomUUID(), clientRequestId: null, operationName: 'PatientDetail', queryHash: 'f'.repeat(64), clientAddress: '127.0.0.1', userAgent: 'bench' };
  const caseIds = Array.from({ length: 10 }, () => randomUUID());
  const patientIds = [randomUUID()];
  const recordMicros = await microsPerCall(iterations, () => {
    const record = auditRecord({ action: 'case.read', outcome: 'SUCCESS', resourceType: 'Case', resourceIds: caseIds, patientIds }, actor, meta);
    return leafHash(canonicalAuditRecord(record));
  });

  console.log('\n### Authentication and audit record, per call, in process\n');
  console.log(
    table(
      ['step', 'per call'],
      [
        ['verify the bearer token (jose, ES256, iss/aud/exp/sub checked)', `${fmt.n(verifyMicros)} µs`],
        ['the same token again, from the verified-token cache (SHA-256 of the token, LRU)', `${fmt.n(cachedMicros)} µs`],
        ['build and hash one audit record (10 resource ids)', `${fmt.n(recordMicros)} µs`],
      ],
    ),
  );
  verdict('6 auth and audit', 'token verification per request (in process)', `${fmt.n(verifyMicros)} µs; cached ${fmt.n(cachedMicros)} µs`, '(reported)', undefined);
  verdict('6 auth and audit', 'audit record build + hash, per record (in process)', `${fmt.n(recordMicros)} µs`, '(reported)', undefined);
}
