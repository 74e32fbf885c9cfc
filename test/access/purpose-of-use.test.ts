import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditEvents } from '../support/audit.ts';
import { createPatient } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const patientId = await createPatient(api);

/** The purpose of use of the newest record of an actor's action. */
async function purposeOf(actor: string, action: string): Promise<string | undefined> {
  const [record] = await auditEvents(api, { actorSubject: actor, action }, 1);
  return record?.purposeOfUse;
}

describe('the purpose of use, when neither the token nor the request states one', () => {
  it('is treatment for a clinician on the care team', async () => {
    assert.equal((await api.as(people.clinician).gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId })).body.errors, undefined);
    assert.equal(await purposeOf(people.clinician.sub, 'patient.read'), 'TREAT');
  });

  it('is emergency treatment for break-glass access, its opening and its reads', async () => {
    const outsider = api.as(people.otherClinician);
    const opened = await outsider.gql('mutation($id: ID!) { openBreakGlass(patientId: $id, reason: "Unconscious patient in the emergency room") { id } }', { id: patientId });
    assert.equal(opened.body.errors, undefined);
    assert.equal((await outsider.gql('query($id: ID!) { patient(id: $id) { id } }', { id: patientId })).body.errors, undefined);
    assert.equal(await purposeOf(people.otherClinician.sub, 'breakGlass.open'), 'ETREAT');
    assert.equal(await purposeOf(people.otherClinician.sub, 'patient.read'), 'ETREAT');
  });

  it('is operations for an admin', async () => {
    await createPatient(api, {}, []);
    assert.equal(await purposeOf(people.admin.sub, 'patient.create'), 'HOPERAT');
  });

  it('is research for a data scientist', async () => {
    const response = await api.as(people.dataScientist).gql('{ modelPerformance(model: "breast-cancer") { predictions } }');
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    assert.equal(await purposeOf(people.dataScientist.sub, 'model.monitor'), 'HRESCH');
  });

  it('is compliance for an auditor, and `me` says so', async () => {
    const auditor = api.as(people.auditor);
    assert.equal((await auditor.gql('{ me { purposeOfUse } }')).body.data!.me.purposeOfUse, 'HCOMPL');
    await auditEvents(api, {}, 1);
    assert.equal(await purposeOf(people.auditor.sub, 'audit.read'), 'HCOMPL');
  });

  it('gives way to the one the request states', async () => {
    const response = await api.as(people.auditor).gql('{ auditEvents(first: 1) { edges { node { id } } } }', {}, { 'x-purpose-of-use': 'HQUALIMP' });
    assert.equal(response.body.errors, undefined);
    assert.equal(await purposeOf(people.auditor.sub, 'audit.read'), 'HQUALIMP');
  });
});
