import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { runAsSystem } from '../../src/access/scope.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { loadConfig } from '../../src/config/config.ts';
import { TrainingDataRepository } from '../../src/models/training-data.repository.ts';
import { auditEvents } from '../support/audit.ts';
import { caseWithObservations, createPatient, modelObservations } from '../support/fixtures.ts';
import { errorCodes, startTestServer, testServerEnv } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const { prisma } = api.server.db;
const carer = api.as(people.clinician);

const withdraw = async (patientId: string) => {
  const response = await carer.gql('mutation($id: ID!) { recordAiConsent(patientId: $id, status: WITHDRAWN) { aiConsent } }', { id: patientId });
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
};

describe('withdrawn consent to automated analysis', () => {
  it('refuses explaining a prediction made before the withdrawal, and stores nothing', async () => {
    const patientId = await createPatient(api);
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 5), patientId);
    const predicted = await carer.gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { id } }', { id: caseId });
    assert.equal(predicted.body.errors, undefined, JSON.stringify(predicted.body.errors));
    const predictionId = predicted.body.data!.predict.id as string;
    await withdraw(patientId);
    const explained = await carer.gql('mutation($id: ID!) { explainPrediction(id: $id) { id } }', { id: predictionId });
    assert.deepEqual(errorCodes(explained), ['CONSENT_REQUIRED']);
    assert.equal((await prisma.prediction.findUniqueOrThrow({ where: { id: predictionId } })).explanation, null);
    const [failed] = await auditEvents(api, { action: 'prediction.explain' }, 1);
    assert.deepEqual([failed?.outcome, failed?.reason], ['ERROR', 'CONSENT_REQUIRED']);
  });

  it('refuses predictions, alone or in a cohort', async () => {
    const patientId = await createPatient(api);
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 6), patientId);
    await withdraw(patientId);
    assert.deepEqual(errorCodes(await carer.gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer") { id } }', { id: caseId })), ['CONSENT_REQUIRED']);
    const cohort = await carer.gql('mutation($ids: [ID!]!) { predictCohort(caseIds: $ids, model: "breast-cancer") { prediction { id } error { code } } }', { ids: [caseId] });
    assert.deepEqual(cohort.body.data!.predictCohort, [{ prediction: null, error: { code: 'CONSENT_REQUIRED' } }]);
  });

  it('leaves the patient’s rows out of training on platform data', async () => {
    const patientIds = [await createPatient(api), await createPatient(api)];
    for (const patientId of patientIds) {
      await prisma.case.create({
        data: { patientId, title: 'platform case', observations: { create: { code: 'marker', value: 1 } }, outcomes: { create: { target: 'consent_probe', label: 'yes', recordedBy: 'test' } } },
      });
    }
    await withdraw(patientIds[1]!);
    const log = pino({ level: 'silent' });
    const deps = { db: api.server.db, config: loadConfig(await testServerEnv(api.database)), auditLog: new AuditLog(prisma, log), log };
    const rows = await runAsSystem(deps, people.dataScientist.sub, ['data_scientist'], (scope) => new TrainingDataRepository(scope).collect('consent_probe'));
    assert.equal(rows.length, 1);
    const [collected] = await auditEvents(api, { action: 'training.collect' }, 1);
    assert.deepEqual(collected?.patientIds, [patientIds[0]]);
  });
});
