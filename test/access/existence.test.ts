import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { caseWithObservations, createPatient, modelObservations } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const outsider = api.as(people.otherClinician);
const unknownId = '00000000-0000-4000-8000-00000000dead';

// A case and a prediction of a patient the outsider does not care for.
const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 2), await createPatient(api));
const predicted = await api.as(people.clinician).gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { id } }', { id: caseId });
const predictionId = predicted.body.data!.predict.id as string;

/** What the outsider gets for a document, and how many SQL statements the server ran for it. */
async function probe(document: string, id: string) {
  let statements = 0;
  const stop = api.server.db.onQuery(() => statements++);
  const response = await outsider.gql(document, { id });
  stop();
  return { statements, status: response.status, body: response.body };
}

describe('a record out of reach and one that does not exist', () => {
  for (const [name, document, existing] of [
    ['case(id)', 'query($id: ID!) { case(id: $id) { id } }', () => caseId],
    ['prediction(id)', 'query($id: ID!) { prediction(id: $id) { id } }', () => predictionId],
  ] as const) {
    it(`${name}: the same answer from the same work`, async () => {
      // Once each first, so both are measured with the audit log's group append warm.
      await probe(document, existing());
      await probe(document, unknownId);
      const forbidden = await probe(document, existing());
      const absent = await probe(document, unknownId);
      assert.deepEqual(forbidden.body.errors?.map((error) => error.extensions?.code), ['FORBIDDEN']);
      assert.deepEqual(absent.body, forbidden.body);
      assert.equal(absent.status, forbidden.status);
      assert.equal(absent.statements, forbidden.statements, 'as many SQL statements for the absent record as for the forbidden one');
    });
  }
});
