import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

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
