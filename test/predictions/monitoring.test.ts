import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inputDrift, populationStabilityIndex } from '../../src/predictions/model-performance.ts';
import { distributionBins } from '../../src/pipeline/preprocess.ts';
import { caseWithObservations, modelObservations } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const clinician = api.as(people.clinician);
const scientist = api.as(people.dataScientist);

async function predictOn(model: 'breast-cancer' | 'diabetes-progression', row: number) {
  const caseId = await caseWithObservations(api, await modelObservations(model, row));
  const response = await clinician.gql('mutation($id: ID!, $m: String!) { predict(caseId: $id, model: $m, explain: false) { id label value } }', { id: caseId, m: model });
  assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
  return { caseId, ...response.body.data!.predict };
}

const review = (id: string, decision: string, note?: string) =>
  clinician.gql('mutation($id: ID!, $d: ReviewDecision!, $n: String) { reviewPrediction(id: $id, decision: $d, note: $n) { review { decision note reviewedBy } } }', { id, d: decision, n: note });
const outcome = (caseId: string, value: Record<string, unknown>) =>
  clinician.gql('mutation($id: ID!, $o: OutcomeInput!) { recordOutcome(caseId: $id, outcome: $o) { target label value recordedBy } }', { id: caseId, o: value });
const performance = async (model: string) =>
  (await scientist.gql('query($m: String!) { modelPerformance(model: $m) { predictions reviewed agreed agreementRate withOutcome accuracy rmse drift { feature psi level count } } }', { m: model })).body.data!.modelPerformance;

describe('population stability index', () => {
  it('matches a hand computation', () => {
    // expected [0.5, 0.5], actual [0.25, 0.75]:
    // (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5 = 0.17329 + 0.10137 = 0.27465
    assert.ok(Math.abs(populationStabilityIndex([0.5, 0.5], [0.25, 0.75]) - 0.274653) < 1e-6);
    assert.equal(populationStabilityIndex([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]), 0);
  });

  it('bins inputs by the training deciles and grades the shift', () => {
    const training = Array.from({ length: 100 }, (_, i) => i); // deciles at 9.9, 19.8, ...
    const bins = distributionBins(training);
    assert.equal(bins.edges.length, 9);
    assert.ok(bins.shares.every((share) => Math.abs(share - 0.1) < 1e-9));
    const state = { kind: 'tabular' as const, columns: ['x'], features: [{ kind: 'numeric' as const, name: 'x', median: 49.5, mean: 49.5, std: 29, min: 0, max: 99, bins }] };
    const same = inputDrift(state, training.map((x) => ({ x })));
    assert.ok(same[0]!.psi < 1e-9);
    assert.equal(same[0]!.level, 'stable');
    const shifted = inputDrift(state, Array.from({ length: 50 }, () => ({ x: 95 })));
    // All 50 in the top bin: (1-0.1) ln(1/0.1) + 9 * (0.0001-0.1) ln(0.0001/0.1) = 2.0723 + 6.2104 = 8.2827
    assert.ok(Math.abs(shifted[0]!.psi - 8.2827) < 1e-3, String(shifted[0]!.psi));
    assert.deepEqual([shifted[0]!.level, shifted[0]!.count], ['shifted', 50]);
  });
});

describe('reviews, outcomes and live performance', () => {
  it('computes agreement and accuracy from reviewed and outcome-known predictions', async () => {
    const predictions = [];
    for (const row of [100, 101, 102, 103, 104]) predictions.push(await predictOn('breast-cancer', row));
    // 3 reviews: 2 agree, 1 disagrees -> agreement 2/3.
    assert.deepEqual((await review(predictions[0].id, 'AGREE', 'matches cytology')).body.data!.reviewPrediction.review, { decision: 'AGREE', note: 'matches cytology', reviewedBy: people.clinician.sub });
    await review(predictions[1].id, 'AGREE');
    await review(predictions[2].id, 'DISAGREE', 'clinically benign');
    // 4 outcomes: the first three as predicted, the fourth the opposite -> accuracy 3/4.
    const opposite = (label: string) => (label === 'malignant' ? 'benign' : 'malignant');
    for (const [i, prediction] of predictions.slice(0, 4).entries()) {
      const recorded = await outcome(prediction.caseId, { target: 'diagnosis', label: i < 3 ? prediction.label : opposite(prediction.label) });
      assert.equal(recorded.body.data!.recordOutcome.recordedBy, people.clinician.sub);
    }
    const figures = await performance('breast-cancer');
    assert.deepEqual(
      [figures.predictions, figures.reviewed, figures.agreed, figures.withOutcome],
      [5, 3, 2, 4],
    );
    assert.ok(Math.abs(figures.agreementRate - 2 / 3) < 1e-12);
    assert.equal(figures.accuracy, 0.75);
    assert.equal(figures.rmse, null);
    assert.equal(figures.drift.length, 30);
    assert.ok(figures.drift.every((feature: any) => feature.count === 5 && ['stable', 'moderate', 'shifted'].includes(feature.level)));
  });

  it('computes RMSE against recorded numeric outcomes', async () => {
    const a = await predictOn('diabetes-progression', 110);
    const b = await predictOn('diabetes-progression', 111);
    await outcome(a.caseId, { target: 'progression', value: a.value + 30 });
    await outcome(b.caseId, { target: 'progression', value: b.value - 40 });
    // sqrt((30^2 + 40^2) / 2) = sqrt(1250) = 35.3553
    const figures = await performance('diabetes-progression');
    assert.ok(Math.abs(figures.rmse - Math.sqrt(1250)) < 1e-6, String(figures.rmse));
    assert.equal(figures.withOutcome, 2);
  });

  it('corrects an outcome instead of adding a second one, and shows it on the case', async () => {
    const { caseId } = await predictOn('breast-cancer', 120);
    await outcome(caseId, { target: 'diagnosis', label: 'benign' });
    await outcome(caseId, { target: 'diagnosis', label: 'malignant' });
    const read = await clinician.gql('query($id: ID!) { case(id: $id) { outcomes { target label } } }', { id: caseId });
    assert.deepEqual(read.body.data!.case.outcomes, [{ target: 'diagnosis', label: 'malignant' }]);
  });

  it('refuses bad reviews and outcomes, and monitoring for clinicians', async () => {
    const { id, caseId } = await predictOn('breast-cancer', 121);
    assert.deepEqual(errorCodes(await review(id, 'MAYBE')), ['BAD_USER_INPUT']);
    assert.deepEqual(errorCodes(await outcome(caseId, { target: 'diagnosis', label: 'benign', value: 1 })), ['BAD_USER_INPUT']);
    assert.deepEqual(errorCodes(await outcome(caseId, { target: 'diagnosis' })), ['BAD_USER_INPUT']);
    const outsider = api.as(people.otherClinician);
    assert.deepEqual(errorCodes(await outsider.gql('mutation($id: ID!) { reviewPrediction(id: $id, decision: AGREE) { id } }', { id })), ['FORBIDDEN']);
    assert.deepEqual(errorCodes(await clinician.gql('{ modelPerformance(model: "breast-cancer") { predictions } }')), ['FORBIDDEN']);
  });
});
