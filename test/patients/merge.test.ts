import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditEvents } from '../support/audit.ts';
import { caseWithObservations, createPatient, modelObservations } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const { prisma } = api.server.db;
const carer = api.as(people.clinician);
const outsider = api.as(people.otherClinician);

describe('merging a duplicate patient record', () => {
  it('moves the predictions and outcomes of its cases along, for access checks and the audit log alike', async () => {
    const duplicateId = await createPatient(api, { givenName: 'Dupli' });
    const survivorId = await createPatient(api, { givenName: 'Survi' }, []);
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 3), duplicateId);
    const predicted = await carer.gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { id } }', { id: caseId });
    assert.equal(predicted.body.errors, undefined, JSON.stringify(predicted.body.errors));
    const predictionId = predicted.body.data!.predict.id as string;
    const outcome = await carer.gql('mutation($id: ID!) { recordOutcome(caseId: $id, outcome: { target: "diagnosis", label: "B" }) { label } }', { id: caseId });
    assert.equal(outcome.body.errors, undefined, JSON.stringify(outcome.body.errors));

    const merged = await api.as(people.admin).gql('mutation($d: ID!, $s: ID!) { mergePatients(duplicateId: $d, survivorId: $s) { id } }', { d: duplicateId, s: survivorId });
    assert.equal(merged.body.errors, undefined, JSON.stringify(merged.body.errors));
    assert.equal((await prisma.prediction.findUniqueOrThrow({ where: { id: predictionId } })).patientId, survivorId);
    assert.equal((await prisma.caseOutcome.findFirstOrThrow({ where: { caseId } })).patientId, survivorId);

    // The care team moved with the cases: the clinician still reads their own prediction.
    const own = await carer.gql('query($id: ID!) { prediction(id: $id) { id case { patient { id } } } }', { id: predictionId });
    assert.equal(own.body.errors, undefined, JSON.stringify(own.body.errors));
    assert.equal(own.body.data!.prediction.case.patient.id, survivorId);

    // Break-glass on the survivor reaches the prediction, and every record of it names the survivor, flagged.
    const opened = await outsider.gql('mutation($id: ID!) { openBreakGlass(patientId: $id, reason: "Unconscious patient in the emergency room") { id } }', { id: survivorId });
    assert.equal(opened.body.errors, undefined, JSON.stringify(opened.body.errors));
    const byId = await outsider.gql('query($id: ID!) { prediction(id: $id) { id } }', { id: predictionId });
    assert.equal(byId.body.errors, undefined, JSON.stringify(byId.body.errors));
    const listed = await outsider.gql('query($id: ID!) { patient(id: $id) { cases { predictions { id } outcomes { label } } } }', { id: survivorId });
    assert.equal(listed.body.errors, undefined, JSON.stringify(listed.body.errors));
    assert.deepEqual(listed.body.data!.patient.cases[0].predictions, [{ id: predictionId }]);
    const reads = await auditEvents(api, { actorSubject: people.otherClinician.sub, action: 'prediction.read' });
    assert.equal(reads.length, 2, 'one read by id, one through the case list (separate requests)');
    for (const read of reads) {
      assert.deepEqual(read.patientIds, [survivorId]);
      assert.equal(read.breakGlass, true);
      assert.equal(read.purposeOfUse, 'ETREAT');
    }
  });
});
