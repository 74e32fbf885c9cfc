import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { startServer } from '../../src/server/start.ts';
import { createPatient } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { startTestServer, testServerEnv, testServerRole, twoRoles } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

// Roles are PostgreSQL's; the embedded database has one user, so this runs in the PostgreSQL pass.
const skip = !process.env.DATABASE_URL && 'needs DATABASE_URL: roles are PostgreSQL’s';

it('refuses to start in production when the server’s role owns the audit tables', { skip }, async () => {
  const database = await createTestDatabase();
  after(() => database.drop());
  const config = loadConfig({ ...(await testServerEnv(database)), CLINIGRAPH_MODE: 'production' });
  await assert.rejects(startServer(config, pino({ level: 'silent' })), /the server's role owns .*AuditEvent.*DATABASE_MIGRATION_URL/);
});

it('refuses to start in production when the server’s role may rewrite the audit tables through a grant it holds', { skip }, async () => {
  const database = await createTestDatabase();
  after(() => database.drop());
  const roles = await twoRoles(database.databaseUrl!);
  const serverOnly = { ...(await testServerEnv(database)), DATABASE_URL: roles.DATABASE_URL!, CLINIGRAPH_MODE: 'production' };
  const twoRoleEnv = { ...serverOnly, DATABASE_MIGRATION_URL: roles.DATABASE_MIGRATION_URL! };
  const start = (env: Record<string, string>) => startServer(loadConfig(env), pino({ level: 'silent' }));
  await (await start(twoRoleEnv)).stop(); // the rights as the migration role grants them

  const owner = new pg.Client({ connectionString: database.databaseUrl });
  owner.on('error', () => {}); // the test database is dropped with its connections
  await owner.connect();
  // A role the server's role belongs to: the migration role's REVOKE at start does not reach what it brings.
  const group = `clinigraph_audit_rewriters_${process.pid}_${Date.now()}`;
  await owner.query(`CREATE ROLE ${group}`);
  try {
    await owner.query(`GRANT TRIGGER ON "AuditEvent" TO ${group}`);
    await owner.query(`GRANT UPDATE (note) ON "AuditCheckpoint" TO ${group}`);
    await owner.query(`GRANT ${group} TO ${testServerRole}`);
    await assert.rejects(start(twoRoleEnv), /may rewrite the audit tables: AuditCheckpoint \(UPDATE\), AuditEvent \(TRIGGER\);/);

    // One role, granted directly (no migration role revokes anything at start).
    await owner.query(`REVOKE ${group} FROM ${testServerRole}`);
    await owner.query(`GRANT DELETE, TRUNCATE ON "AuditLeaf" TO ${testServerRole}`);
    await assert.rejects(start(serverOnly), /may rewrite the audit tables: AuditLeaf \(DELETE, TRUNCATE\);/);
  } finally {
    await owner.query(`REVOKE ${group} FROM ${testServerRole}`);
    await owner.query(`REVOKE ALL ON "AuditEvent", "AuditCheckpoint" FROM ${group}`);
    await owner.query(`DROP ROLE ${group}`);
    await owner.end();
  }
});

it('runs as a role that may only insert and read the audit tables, migrated by the owner', { skip }, async () => {
  const api = await startTestServer({ CLINIGRAPH_MODE: 'production' });
  await createPatient(api);
  const verification = await api.as(people.auditor).gql('{ verifyAuditChain { intact checkedCount } }');
  assert.equal(verification.body.data!.verifyAuditChain.intact, true, JSON.stringify(verification.body));
  assert.ok(verification.body.data!.verifyAuditChain.checkedCount > 0);

  // What an attacker holding the server's credentials can do to the log: append, and nothing else.
  const server = new pg.Client({ connectionString: serverRoleUrl(api.database.databaseUrl!) });
  server.on('error', () => {}); // the test database is dropped with its connections
  await server.connect();
  const [{ user }] = (await server.query('SELECT current_user AS user')).rows;
  assert.equal(user, testServerRole);
  for (const table of ['AuditEvent', 'AuditLeaf', 'AuditTreeNode', 'AuditCheckpoint']) {
    for (const sql of [
      `UPDATE "${table}" SET "${table === 'AuditEvent' ? 'actorSubject' : table === 'AuditCheckpoint' ? 'note' : table === 'AuditLeaf' ? 'eventSequence' : 'level'}" = DEFAULT`,
      `DELETE FROM "${table}"`,
      `TRUNCATE "${table}"`,
      `ALTER TABLE "${table}" DISABLE TRIGGER USER`,
      `DROP TABLE "${table}"`,
    ]) {
      await assert.rejects(server.query(sql), /permission denied|must be owner/, sql);
    }
  }
  await assert.rejects(server.query('SET session_replication_role = replica'), /permission denied/);
  await server.query(
    `INSERT INTO "AuditEvent" (id, "recordedAt", "actorSubject", "actorRoles", action, outcome, "resourceIds", "patientIds", "purposeOfUse")
     VALUES (gen_random_uuid(), now(), 'role-test', '{}', 'role.insert', 'SUCCESS', '{}', '{}', 'TREAT')`,
  );
  await server.end();
  assert.equal((await api.server.app.auditLedger.verify()).intact, true);
});

/** The server's own connection URL (the server role), as the test support set it. */
function serverRoleUrl(ownerUrl: string): string {
  const url = new URL(ownerUrl);
  url.username = testServerRole;
  return url.toString();
}
