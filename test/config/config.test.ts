import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'dotenv';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

const productionAuth = { CLINIGRAPH_MODE: 'production', AUTH_JWKS_URL: 'https://idp.example/certs', AUTH_ISSUER: 'https://idp.example', AUTH_AUDIENCE: 'clinigraph', METRICS_TOKEN: 'scrape' };
const productionAudit = { AUDIT_SIGNING_KEY: 'PRIVATE+KEY+x+00000000+AQ==', AUDIT_CHECKPOINT_DIR: '/var/lib/clinigraph/checkpoints' };

it('has defaults that run the embedded database under ./data on port 4000', () => {
  const config = loadConfig({});
  assert.equal(config.port, 4000);
  assert.equal(config.dataDir, path.resolve('./data'));
  assert.equal(config.databaseUrl, undefined);
  assert.equal(config.migrateOnStart, true);
  assert.equal(config.maxPageSize, 100);
});

it('reads PostgreSQL settings and flags', () => {
  const config = loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/x', DATABASE_POOL_SIZE: '7', MIGRATE_ON_START: 'false', DEMO_DATA: 'no' });
  assert.equal(config.databaseUrl, 'postgresql://u@db:5432/x');
  assert.equal(config.databasePoolSize, 7);
  assert.equal(config.migrateOnStart, false);
  assert.equal(config.demoData, false);
  assert.equal(loadConfig({ DATABASE_URL: '' }).databaseUrl, undefined);
});

it('.env.example, copied to .env, changes no default in either mode (no demo data in production)', () => {
  const example = parse(readFileSync(new URL('../../.env.example', import.meta.url)));
  const production = { ...productionAuth, ...productionAudit };
  for (const mode of [{}, production]) assert.deepEqual(loadConfig({ ...example, ...mode }), loadConfig(mode));
  assert.equal(loadConfig({ ...example, ...production }).demoData, false);
});

it('names every bad setting at once', () => {
  assert.throws(
    () => loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://x', MIGRATE_ON_START: 'maybe', MAX_PAGE_SIZE: '0' }),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      for (const name of ['PORT', 'DATABASE_URL', 'MIGRATE_ON_START', 'MAX_PAGE_SIZE']) assert.match(error.message, new RegExp(name));
      return true;
    },
  );
});

it('reads the bulk export duty cycle, and refuses one that leaves no rest', () => {
  assert.deepEqual(loadConfig({ FHIR_EXPORT_WORK_MS: '20', FHIR_EXPORT_PERIOD_MS: '250' }).fhir.exportPacing, { workMs: 20, periodMs: 250 });
  assert.throws(() => loadConfig({ FHIR_EXPORT_WORK_MS: '100', FHIR_EXPORT_PERIOD_MS: '100' }), /FHIR_EXPORT_WORK_MS: must be less than FHIR_EXPORT_PERIOD_MS/);
});

describe('authentication settings', () => {
  const key = '-----BEGIN PUBLIC KEY-----\\nMFkw...\\n-----END PUBLIC KEY-----';

  it('uses the local development key only in development, with development issuer and audience', () => {
    const config = loadConfig({});
    assert.equal(config.production, false);
    assert.deepEqual(config.auth.keySource, { kind: 'development' });
    assert.deepEqual([config.auth.issuer, config.auth.audience], ['clinigraph-dev', 'clinigraph']);
  });

  it('lets an explicit mode decide, NODE_ENV=production only when the mode is unset, and warns when they disagree', () => {
    assert.equal(loadConfig({ NODE_ENV: 'production', CLINIGRAPH_MODE: 'development' }).production, false);
    assert.match(loadConfig({ NODE_ENV: 'production', CLINIGRAPH_MODE: 'development' }).warnings.join(), /CLINIGRAPH_MODE=development overrides NODE_ENV=production/);
    assert.deepEqual(loadConfig({}).warnings, []);
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /AUTH_/, 'NODE_ENV=production alone is production, with its checks');
  });

  it('refuses to start in production with the development key or without explicit issuer and audience', () => {
    for (const mode of [{ CLINIGRAPH_MODE: 'production' }, { NODE_ENV: 'production' }]) {
      assert.throws(() => loadConfig(mode), (error: Error) => {
        assert.match(error.message, /development key/);
        assert.match(error.message, /AUTH_ISSUER: required/);
        assert.match(error.message, /AUTH_AUDIENCE: required/);
        return true;
      });
    }
    const production = loadConfig({ ...productionAuth, ...productionAudit });
    assert.equal(production.production, true);
    assert.equal(production.demoData, false, 'no demo data in production unless asked');
  });

  it('refuses to start in production without a metrics token, so /metrics is never open there', () => {
    const production = { ...productionAuth, ...productionAudit, METRICS_TOKEN: undefined };
    for (const token of [undefined, '', '  ']) {
      assert.throws(() => loadConfig({ ...production, ...(token === undefined ? {} : { METRICS_TOKEN: token }) }), /METRICS_TOKEN: required in production/);
    }
    assert.equal(loadConfig({ ...production, METRICS_TOKEN: 'scrape' }).metricsToken, 'scrape');
    assert.equal(loadConfig({}).metricsToken, undefined, 'development may leave it open');
  });

  it('refuses to start in production without an audit checkpoint signing key and a witness directory', () => {
    assert.throws(() => loadConfig(productionAuth), (error: Error) => {
      assert.match(error.message, /AUDIT_SIGNING_KEY: production mode signs audit checkpoints/);
      assert.match(error.message, /AUDIT_CHECKPOINT_DIR: production mode keeps a witness copy/);
      return true;
    });
    assert.throws(() => loadConfig({ DATABASE_MIGRATION_URL: 'postgresql://owner@db/clinigraph' }), /DATABASE_MIGRATION_URL: the migration role is for PostgreSQL/);
  });

  it('refuses to stop auditing reads in production mode', () => {
    assert.throws(() => loadConfig({ ...productionAuth, ...productionAudit, AUDIT_READS: 'false' }), /AUDIT_READS/);
    assert.equal(loadConfig({ AUDIT_READS: 'false' }).auditReads, false);
  });

  it('refuses an HMAC secret shorter than 32 bytes, two key sources at once, and algorithms that do not fit the key', () => {
    assert.throws(() => loadConfig({ AUTH_HMAC_SECRET: 'short-secret' }), /at least 32 bytes/);
    assert.equal(loadConfig({ AUTH_HMAC_SECRET: 'x'.repeat(32) }).auth.algorithms.join(), 'HS256');
    assert.throws(() => loadConfig({ AUTH_HMAC_SECRET: 'x'.repeat(32), AUTH_PUBLIC_KEY: key }), /set only one/);
    assert.throws(() => loadConfig({ AUTH_PUBLIC_KEY: key, AUTH_ALGORITHMS: 'RS256,HS256' }), /HS256 does not fit a public key/);
    assert.throws(() => loadConfig({ AUTH_HMAC_SECRET: 'x'.repeat(32), AUTH_ALGORITHMS: 'RS256' }), /RS256 does not fit a shared secret/);
    assert.throws(() => loadConfig({ AUTH_PUBLIC_KEY: key, AUTH_ALGORITHMS: 'none' }), /none does not fit/);
  });

  it('reads a nested roles claim path and a bounded clock tolerance', () => {
    assert.equal(loadConfig({ AUTH_ROLES_CLAIM: 'realm_access.roles' }).auth.rolesClaim, 'realm_access.roles');
    assert.throws(() => loadConfig({ AUTH_ROLES_CLAIM: 'realm access' }), /AUTH_ROLES_CLAIM/);
    assert.throws(() => loadConfig({ AUTH_CLOCK_TOLERANCE_SECONDS: '3600' }), /AUTH_CLOCK_TOLERANCE_SECONDS/);
  });
});
