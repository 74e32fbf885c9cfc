import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { runAsSystem, type ScopeDeps } from '../../src/access/scope.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { loadConfig } from '../../src/config/config.ts';
import { PatientRepository } from '../../src/patients/patient.repository.ts';
import { auditEvents } from '../support/audit.ts';
import { createPatient } from '../support/fixtures.ts';
import { startTestServer, testServerEnv } from '../support/test-server.ts';

const api = await startTestServer();
const log = pino({ level: 'silent' });
const deps: ScopeDeps = {
  db: api.server.db,
  config: loadConfig(await testServerEnv(api.database)),
  auditLog: new AuditLog(api.server.db.prisma, log),
  log,
};

describe('work no request carries (start-up, training jobs, command-line tools)', () => {
  it('appends what it read when it ends, under its operator, for the purpose of system administration', async () => {
    const patientId = await createPatient(api);
    const patient = await runAsSystem(deps, 'cli:test-reader', ['admin'], (scope) => new PatientRepository(scope).findById(patientId));
    assert.equal(patient?.id, patientId);
    const [read] = await auditEvents(api, { actorSubject: 'cli:test-reader' });
    assert.ok(read, 'the system read is in the audit log');
    assert.equal(read.action, 'patient.read');
    assert.equal(read.outcome, 'SUCCESS');
    assert.deepEqual(read.patientIds, [patientId]);
    assert.equal(read.purposeOfUse, 'HSYSADMIN');
    assert.equal(read.requestId, null);
  });

  it('appends a refusal too, when the work fails on it', async () => {
    const patientId = await createPatient(api);
    await assert.rejects(
      runAsSystem(deps, 'cli:test-refused', ['data_scientist'], (scope) => new PatientRepository(scope).findById(patientId)),
      (error: { extensions?: { code?: string } }) => error.extensions?.code === 'FORBIDDEN',
    );
    const [denied] = await auditEvents(api, { actorSubject: 'cli:test-refused' });
    assert.equal(denied?.action, 'patient.read');
    assert.equal(denied?.outcome, 'DENIED');
    assert.equal(denied?.reason, 'role');
  });
});
