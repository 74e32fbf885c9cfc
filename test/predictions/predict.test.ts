import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { datasetsDir, defaultModel, explainPrediction, loadServingModel, readCsvFile, readShippedModel, recordAt, type ServingModel } from '../../src/pipeline/index.ts';
import { caseWithObservations, createPatient, modelObservations, openCase } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const clinician = api.as(people.clinician);
const { prisma } = api.server.db;

const predictMutation = `mutation($caseId: ID!, $model: String!, $version: Int, $explain: Boolean) {
  predict(caseId: $caseId, model: $model, version: $version, explain: $explain) {
    id label value outcomeLabel threshold input outOfDistribution warnings latencyMs requestedBy
    outOfDistributionScore { score flagged }
    probabilities { label probability }
    conformal { coverage set lower upper }
    modelVersion { version stage }
    explanation { method output baselineOutput completenessGap completenessFlagged summary attributions { feature attribution value typical } saliency { width height values label } }
  }
}`;

async function predict(caseId: string, model: string, extra: Record<string, unknown> = {}) {
  return clinician.gql(predictMutation, { caseId, model, ...extra });
}

/** The shipped model, loaded directly (no server), to compare with what the service answers. */
const direct = new Map<string, ServingModel>();
async function directModel(name: 'breast-cancer' | 'diabetes-progression' | 'digits') {
  if (!direct.has(name)) direct.set(name, await loadServingModel((await readShippedModel(name)).result));
  return direct.get(name)!;
}

const predictionCount = () => prisma.prediction.count();

describe('predict on tabular models', () => {
  it('answers what the model run directly on the same input answers, and stores the exact input', async () => {
    const observations = await modelObservations('breast-cancer', 3);
    const caseId = await caseWithObservations(api, observations);
    const response = await predict(caseId, 'breast-cancer');
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    const prediction = response.body.data!.predict;
    const model = await directModel('breast-cancer');
    const input = Object.fromEntries(observations.map((o) => [o.code, o.value]));
    const [expected] = await model.predict([input]);
    assert.deepEqual(Object.fromEntries(prediction.probabilities.map((p: any) => [p.label, p.probability])), (expected as any).probabilities);
    assert.equal(prediction.label, (expected as any).label);
    // Every prediction carries its split-conformal set, stored with it.
    assert.deepEqual(prediction.conformal, { coverage: 0.9, set: (expected as any).conformal.set, lower: null, upper: null });
    assert.deepEqual(prediction.input, input);
    assert.deepEqual(prediction.modelVersion, { version: 1, stage: 'PRODUCTION' });
    assert.equal(prediction.outcomeLabel, 'malignancy probability');
    assert.equal(prediction.requestedBy, people.clinician.sub);
    assert.ok(prediction.latencyMs > 0);

    // The stored snapshot reproduces the prediction exactly.
    const stored = await prisma.prediction.findUniqueOrThrow({ where: { id: prediction.id } });
    const [again] = await model.predict([(stored.input as { values: Record<string, number> }).values]);
    assert.deepEqual((again as any).probabilities, (stored.output as any).probabilities);
  });

  it('reads the latest observation of each feature, whatever else the case holds', async () => {
    const observations = await modelObservations('breast-cancer', 3);
    const caseId = await caseWithObservations(api, observations);
    const [first, second] = observations;
    const at = (minutes: number) => new Date(Date.now() + minutes * 60_000);
    // Older values of a feature, a newer one, two of the same time (the later id wins, as lists show them), and another code.
    await prisma.observation.createMany({
      data: [
        ...Array.from({ length: 50 }, (_, i) => ({ caseId, code: first!.code, value: first!.value + 100 + i, unit: first!.unit, observedAt: at(-60 - i) })),
        { caseId, code: first!.code, value: first!.value * 1.01, unit: first!.unit, observedAt: at(5) },
        { id: '00000000-0000-4000-8000-000000000001', caseId, code: second!.code, value: second!.value * 1.02, unit: second!.unit, observedAt: at(5) },
        { id: 'ffffffff-ffff-4fff-bfff-ffffffffffff', caseId, code: second!.code, value: second!.value * 1.03, unit: second!.unit, observedAt: at(5) },
        { caseId, code: 'note', text: 'not a feature', observedAt: at(10) },
      ],
    });
    const response = await predict(caseId, 'breast-cancer', { explain: false });
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    const input = response.body.data!.predict.input as Record<string, number>;
    assert.equal(input[first!.code], first!.value * 1.01);
    assert.equal(input[second!.code], second!.value * 1.03);
    assert.equal(input[observations[2]!.code], observations[2]!.value);
    assert.equal(Object.keys(input).length, observations.length);
  });

  it('explains with integrated gradients whose attributions add up to the change from a typical case', async () => {
    const observations = await modelObservations('diabetes-progression', 10);
    const caseId = await caseWithObservations(api, observations);
    const prediction = (await predict(caseId, 'diabetes-progression')).body.data!.predict;
    const explanation = prediction.explanation;
    assert.equal(explanation.method, 'integrated-gradients');
    const sum = explanation.attributions.reduce((total: number, a: any) => total + a.attribution, 0);
    const change = explanation.output - explanation.baselineOutput;
    assert.ok(Math.abs(sum - change - explanation.completenessGap) < 1e-6, 'gap = sum of attributions - output change');
    assert.ok(Math.abs(explanation.completenessGap) <= 0.05 * Math.abs(change), `completeness within 5%: ${explanation.completenessGap} of ${change}`);
    assert.equal(explanation.completenessFlagged, false);
    assert.ok(Math.abs(explanation.output - prediction.value) < 1e-3, 'the explained output is the prediction');
    assert.equal(prediction.conformal.coverage, 0.9);
    assert.ok(prediction.conformal.lower < prediction.value && prediction.value < prediction.conformal.upper, JSON.stringify(prediction.conformal));
    assert.equal(explanation.attributions.length, observations.length);
    assert.match(explanation.summary[0], /(above|below|at) typical .*(raised|lowered|did not change) predicted progression/);
    // The same as the pipeline's own explanation of that input.
    const reference = explainPrediction(await directModel('diabetes-progression'), prediction.input);
    assert.equal(explanation.attributions[0].feature, reference.attributions[0]!.feature);
  });

  it('skips the explanation when asked, and computes it later on demand', async () => {
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 7));
    const prediction = (await predict(caseId, 'breast-cancer', { explain: false })).body.data!.predict;
    assert.equal(prediction.explanation, null);
    const later = await clinician.gql('mutation($id: ID!) { explainPrediction(id: $id) { explanation { method summary } } }', { id: prediction.id });
    assert.equal(later.body.data!.explainPrediction.explanation.method, 'integrated-gradients');
    assert.ok(later.body.data!.explainPrediction.explanation.summary.length > 0);
  });

  it('flags values that are possible but outside the training range, naming the features, and still predicts', async () => {
    const observations = (await modelObservations('diabetes-progression', 5)).map((o) => (o.code === 'bmi' ? { ...o, value: 60 } : o));
    const caseId = await caseWithObservations(api, observations);
    const prediction = (await predict(caseId, 'diabetes-progression')).body.data!.predict;
    assert.deepEqual(prediction.outOfDistribution, ['bmi']);
    assert.equal(typeof prediction.value, 'number');
  });

  it('scores every input for being unlike the training data as a whole (autoencoder), stores the score and flags an unusual one', async () => {
    const observations = await modelObservations('diabetes-progression', 5);
    const usual = (await predict(await caseWithObservations(api, observations), 'diabetes-progression')).body.data!.predict;
    const unusual = (await predict(await caseWithObservations(api, observations.map((o) => (o.code === 'bmi' ? { ...o, value: 60 } : o))), 'diabetes-progression')).body.data!.predict;
    const model = (await readShippedModel('diabetes-progression')).result;
    for (const prediction of [usual, unusual]) {
      const { score, flagged } = prediction.outOfDistributionScore;
      // The score is the reconstruction error over the training 99th percentile, as the pipeline computes it for that input.
      const encoded = (await directModel('diabetes-progression')).encode([prediction.input]);
      assert.ok(Math.abs(score - encoded.novelty[0]!.score) < 1e-9, `${score} against ${encoded.novelty[0]!.score}`);
      assert.equal(flagged, score > 1);
      const stored = await prisma.prediction.findUniqueOrThrow({ where: { id: prediction.id } });
      assert.deepEqual((stored.qualityFlags as { outOfDistributionScore: unknown }).outOfDistributionScore, { score, flagged });
    }
    assert.ok(model.autoencoder && usual.outOfDistributionScore.score < unusual.outOfDistributionScore.score);
    assert.equal(unusual.outOfDistributionScore.flagged, true);
    assert.ok(unusual.warnings.some((warning: string) => warning.includes(`out-of-distribution score ${unusual.outOfDistributionScore.score.toFixed(2)}`)));
  });

  it('uses a named version, and lists predictions on the case, with their input and explanation as when read by id', async () => {
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 12));
    const prediction = (await predict(caseId, 'breast-cancer', { version: 1 })).body.data!.predict;
    const read = await clinician.gql('query($id: ID!) { case(id: $id) { predictions { id modelName } } }', { id: caseId });
    assert.deepEqual(read.body.data!.case.predictions, [{ id: prediction.id, modelName: 'breast-cancer' }]);
    // A case's list leaves the bulky parts out of its query and loads them by id when asked.
    const parts = 'id input explanation { method summary attributions { feature attribution } }';
    const listed = await clinician.gql(`query($id: ID!) { case(id: $id) { predictions { ${parts} } } }`, { id: caseId });
    const byId = await clinician.gql(`query($id: ID!) { prediction(id: $id) { ${parts} } }`, { id: prediction.id });
    assert.equal(listed.body.errors, undefined, JSON.stringify(listed.body.errors));
    assert.equal(Object.keys(byId.body.data!.prediction.input).length, 30);
    assert.ok(byId.body.data!.prediction.explanation.attributions.length > 0);
    assert.deepEqual(listed.body.data!.case.predictions, [byId.body.data!.prediction]);
  });
});

describe("a patient's detail", () => {
  const caseFields = `id title status openedAt closedAt
    observations { code value text unit observedAt }
    predictions { id label value createdAt latencyMs requestedBy probabilities { label probability } review { decision note reviewedBy reviewedAt } modelName input }`;

  async function statementsOf(query: string, variables: Record<string, unknown>) {
    let statements = 0;
    const stop = api.server.db.onQuery(() => statements++);
    const response = await clinician.gql(query, variables);
    stop();
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    return { statements, data: response.body.data! };
  }

  it('brings the cases, their observations and predictions in one statement, each as the case read by id has it', async () => {
    const patientId = await createPatient(api);
    const withPredictions = await openCase(api, patientId, 'Breast lump');
    await clinician.gql(
      `mutation($caseId: ID!, $observations: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $observations) { id } }`,
      { caseId: withPredictions, observations: [...(await modelObservations('breast-cancer', 5)), { code: 'smoking_status', text: 'former', observedAt: '2026-01-02T08:00:00Z' }] },
    );
    const first = (await predict(withPredictions, 'breast-cancer', { explain: false })).body.data!.predict;
    assert.equal((await predict(withPredictions, 'breast-cancer', { explain: false })).body.errors, undefined);
    const reviewed = await clinician.gql('mutation($id: ID!) { reviewPrediction(id: $id, decision: AGREE, note: "fits") { id } }', { id: first.id });
    assert.equal(reviewed.body.errors, undefined);
    await openCase(api, patientId, 'Follow-up, nothing recorded yet');

    const detail = await statementsOf(`query($id: ID!) { patient(id: $id) { cases { ${caseFields} } } }`, { id: patientId });
    const cases = detail.data.patient.cases as { id: string; observations: unknown[]; predictions: unknown[] }[];
    assert.deepEqual(cases.map((c) => [c.observations.length, c.predictions.length]), [[0, 0], [31, 2]]);
    for (const episode of cases) {
      const byId = await clinician.gql(`query($id: ID!) { case(id: $id) { ${caseFields} } }`, { id: episode.id });
      assert.deepEqual(episode, byId.body.data!.case);
    }
    // Observations and predictions cost no statement of their own: as many as for the cases alone.
    const casesOnly = await statementsOf('query($id: ID!) { patient(id: $id) { cases { id } } }', { id: patientId });
    const withChildren = await statementsOf('query($id: ID!) { patient(id: $id) { cases { id observations { code } predictions { id } } } }', { id: patientId });
    assert.equal(withChildren.statements, casesOnly.statements);
    // Also when the children are selected through fragments.
    const throughFragments = await statementsOf(
      'query($id: ID!) { patient(id: $id) { cases { ...Children } } } fragment Children on Case { id ... on Case { predictions { id } } observations { code } }',
      { id: patientId },
    );
    assert.equal(throughFragments.statements, casesOnly.statements);
    assert.deepEqual(throughFragments.data, withChildren.data);
  });

  it('keeps answering while a migration adds columns to the tables it reads (statements stay prepared on the connections)', async () => {
    const patientId = await createPatient(api);
    await caseWithObservations(api, await modelObservations('breast-cancer', 2), patientId);
    const query = `query($id: ID!) { patient(id: $id) { id cases { ${caseFields} } } }`;
    // Several reads, so the pool's connections have prepared (and PostgreSQL has planned) the statements.
    const before = await Promise.all(Array.from({ length: 4 }, () => clinician.gql(query, { id: patientId })));
    const { prisma } = api.server.db;
    await prisma.$executeRawUnsafe('ALTER TABLE "Case" ADD COLUMN "migrationProbe" integer');
    await prisma.$executeRawUnsafe('ALTER TABLE "Observation" ADD COLUMN "migrationProbe" integer');
    try {
      const after = await Promise.all(Array.from({ length: 4 }, () => clinician.gql(query, { id: patientId })));
      for (const response of [...before, ...after]) assert.deepEqual(response.body, before[0]!.body);
      assert.equal(before[0]!.body.data!.patient.cases[0].observations.length, 30);
    } finally {
      await prisma.$executeRawUnsafe('ALTER TABLE "Case" DROP COLUMN "migrationProbe"');
      await prisma.$executeRawUnsafe('ALTER TABLE "Observation" DROP COLUMN "migrationProbe"');
    }
  });
});

describe('predict on the image model', () => {
  it('classifies a held-out digit and returns a saliency map of the image’s size', async () => {
    const { result } = await readShippedModel('digits');
    const dataset = await readCsvFile(`${datasetsDir}/${defaultModel('digits').dataset}`);
    const row = recordAt(dataset, result.split.test[0]!);
    const pixels = result.features.map((feature) => Number(row[feature.name]));
    const caseId = await openCase(api, await createPatient(api));
    await clinician.gql('mutation($id: ID!, $image: CaseImageInput!) { addCaseImage(caseId: $id, image: $image) { id } }', {
      id: caseId,
      image: { code: 'digit-scan', width: 8, height: 8, pixels },
    });
    const prediction = (await predict(caseId, 'digits')).body.data!.predict;
    assert.equal(prediction.label, String(row.label));
    assert.equal(prediction.probabilities.length, 10);
    const saliency = prediction.explanation.saliency;
    assert.deepEqual([saliency.width, saliency.height, saliency.values.length, saliency.label], [8, 8, 64, prediction.label]);
    assert.ok(saliency.values.some((value: number) => value !== 0));
    assert.equal(prediction.outOfDistributionScore, null, 'image models have no autoencoder');
  });
});

describe('bad input gets a coded error and stores nothing', () => {
  async function refused(caseId: string, model: string, code: string, pattern: RegExp, extra: Record<string, unknown> = {}) {
    const before = await predictionCount();
    const response = await predict(caseId, model, extra);
    assert.deepEqual(errorCodes(response), [code], JSON.stringify(response.body.errors));
    assert.match(response.body.errors![0]!.message, pattern);
    assert.equal(await predictionCount(), before);
    return response.body.errors![0]!;
  }

  it('lists the features a case is missing', async () => {
    const observations = (await modelObservations('breast-cancer', 20)).filter((o) => !['mean_radius', 'worst_area'].includes(o.code));
    const error = await refused(await caseWithObservations(api, observations), 'breast-cancer', 'BAD_USER_INPUT', /mean_radius, worst_area/);
    assert.deepEqual(error.extensions!.missingFeatures, ['mean_radius', 'worst_area']);
  });

  it('refuses a value in the wrong unit, and one without the unit the model needs', async () => {
    const inPounds = (await modelObservations('diabetes-progression', 21)).map((o) => (o.code === 'bmi' ? { ...o, unit: 'lb/in2' } : o));
    await refused(await caseWithObservations(api, inPounds), 'diabetes-progression', 'BAD_USER_INPUT', /bmi must be recorded in kg\/m2.*lb\/in2/);
    const unitless = (await modelObservations('diabetes-progression', 21)).map((o) => (o.code === 'bp' ? { code: o.code, value: o.value } : o));
    await refused(await caseWithObservations(api, unitless), 'diabetes-progression', 'BAD_USER_INPUT', /bp must be recorded in mm\[Hg\].*without a unit/);
  });

  it('refuses a value of the wrong type', async () => {
    const asText = (await modelObservations('breast-cancer', 22)).map((o) => (o.code === 'mean_texture' ? { code: o.code, text: 'coarse' } : o));
    await refused(await caseWithObservations(api, asText), 'breast-cancer', 'BAD_USER_INPUT', /mean_texture must be a number/);
  });

  it('refuses a physiologically impossible value', async () => {
    const impossible = (await modelObservations('diabetes-progression', 23)).map((o) => (o.code === 'age' ? { ...o, value: 250 } : o));
    const error = await refused(await caseWithObservations(api, impossible), 'diabetes-progression', 'BAD_USER_INPUT', /age = 250 is not physiologically possible/);
    assert.equal(error.extensions!.reason, 'impossible-value');
  });

  it('refuses an unknown model, an unknown version and an archived version', async () => {
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 24));
    await refused(caseId, 'crystal-ball', 'NOT_FOUND', /No model named crystal-ball/);
    await refused(caseId, 'breast-cancer', 'NOT_FOUND', /no version 9/, { version: 9 });
    await prisma.modelVersion.updateMany({ where: { model: { name: 'digits' } }, data: { stage: 'ARCHIVED' } });
    try {
      const imageCase = await openCase(api, await createPatient(api));
      await refused(imageCase, 'digits', 'CONFLICT', /archived/, { version: 1 });
      await refused(imageCase, 'digits', 'CONFLICT', /no production version/);
    } finally {
      await prisma.modelVersion.updateMany({ where: { model: { name: 'digits' } }, data: { stage: 'PRODUCTION' } });
    }
  });

  it("answers for the case before the model: an unknown case with a bad model name is refused for the case", async () => {
    const badName = 'x'.repeat(100);
    const unknownCase = await predict(randomUUID(), badName);
    assert.deepEqual(errorCodes(unknownCase), ['FORBIDDEN'], JSON.stringify(unknownCase.body.errors));
    const error = await refused(await caseWithObservations(api, await modelObservations('breast-cancer', 26)), badName, 'BAD_USER_INPUT', /model/);
    assert.equal(error.extensions!.argument, 'model');
  });

  it('refuses an image of the wrong size, and a case without an image', async () => {
    const caseId = await openCase(api, await createPatient(api));
    await refused(caseId, 'digits', 'BAD_USER_INPUT', /needs a 8x8 image; the case has none/);
    await clinician.gql('mutation($id: ID!) { addCaseImage(caseId: $id, image: { code: "scan", width: 4, height: 4, pixels: [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0] }) { id } }', { id: caseId });
    await refused(caseId, 'digits', 'BAD_USER_INPUT', /needs a 8x8 image; the case has 4x4/);
  });

  it('refuses patients who withdrew consent to AI analysis, until they grant it again', async () => {
    const patientId = await createPatient(api);
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 25), patientId);
    await clinician.gql('mutation($id: ID!) { recordAiConsent(patientId: $id, status: WITHDRAWN, note: "declined") { id } }', { id: patientId });
    await refused(caseId, 'breast-cancer', 'CONSENT_REQUIRED', /withdrawn consent/);
    await clinician.gql('mutation($id: ID!) { recordAiConsent(patientId: $id, status: GRANTED) { id } }', { id: patientId });
    assert.equal((await predict(caseId, 'breast-cancer')).body.errors, undefined);
  });

  it('refuses clinicians outside the care team, by case and by prediction id, alike for unknown ids', async () => {
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 26));
    const outsider = api.as(people.otherClinician);
    const before = await predictionCount();
    const response = await outsider.gql(predictMutation, { caseId, model: 'breast-cancer' });
    assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
    assert.equal(await predictionCount(), before);
    const prediction = (await predict(caseId, 'breast-cancer')).body.data!.predict;
    const byId = await outsider.gql('query($id: ID!) { prediction(id: $id) { label } }', { id: prediction.id });
    const unknown = await outsider.gql('query($id: ID!) { prediction(id: $id) { label } }', { id: '00000000-0000-4000-8000-000000000abc' });
    assert.deepEqual(errorCodes(byId), ['FORBIDDEN']);
    assert.deepEqual(byId.body, unknown.body);
  });
});

describe('predictCohort', () => {
  it('predicts several cases at once, giving each its own result or coded error', async () => {
    const good = await caseWithObservations(api, await modelObservations('breast-cancer', 30));
    const incomplete = await caseWithObservations(api, (await modelObservations('breast-cancer', 31)).slice(0, 5));
    const response = await clinician.gql('mutation($ids: [ID!]!) { predictCohort(caseIds: $ids, model: "breast-cancer") { caseId prediction { id label explanation { method } } error { code message } } }', {
      ids: [good, incomplete],
    });
    const [first, second] = response.body.data!.predictCohort;
    assert.equal(first.caseId, good);
    assert.ok(first.prediction.id);
    assert.equal(first.prediction.explanation, null, 'a cohort is not explained unless asked');
    assert.equal(first.error, null);
    assert.deepEqual([second.caseId, second.prediction, second.error.code], [incomplete, null, 'BAD_USER_INPUT']);
    const explained = await clinician.gql('mutation($ids: [ID!]!) { predictCohort(caseIds: $ids, model: "breast-cancer", explain: true) { prediction { explanation { method } } } }', { ids: [good] });
    assert.equal(explained.body.data!.predictCohort[0].prediction.explanation.method, 'integrated-gradients');
    const tooMany = await clinician.gql('mutation($ids: [ID!]!) { predictCohort(caseIds: $ids, model: "breast-cancer") { caseId } }', { ids: Array(51).fill(good) });
    assert.deepEqual(errorCodes(tooMany), ['BAD_USER_INPUT']);
  });
});

describe('the SQL of audited writes', () => {
  /** The statements the server's Prisma client sends while `work` runs (the sequencer's own session is not counted). */
  async function statementsOf<T>(work: () => Promise<T>): Promise<{ result: T; statements: number }> {
    let statements = 0;
    const stop = api.server.db.onQuery(() => statements++);
    try {
      return { result: await work(), statements };
    } finally {
      stop();
    }
  }

  it('writes a prediction in 3 statements (at most 5), with its audit entry', async (t) => {
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 40));
    await predict(caseId, 'breast-cancer', { explain: false }); // the model version is loaded into memory once per process
    // What a client of predict selects (as the benchmark does); fields of other records, such as modelVersion, are read when selected.
    const document = 'mutation($caseId: ID!, $explain: Boolean) { predict(caseId: $caseId, model: "breast-cancer", explain: $explain) { id label probabilities { label probability } latencyMs explanation { method summary } } }';
    for (const explain of [false, true]) {
      const { result, statements } = await statementsOf(() => clinician.gql(document, { caseId, explain }));
      assert.equal(result.body.errors, undefined, JSON.stringify(result.body.errors));
      // The case with its access, inputs, consent and model version; the prediction with its audit entry; the entry of the
      // request's reads (one statement for the reads of all the requests at hand, under load).
      assert.equal(statements, 3, `explain ${explain}: ${statements} statements`);
      t.diagnostic(`explain ${explain}: ${statements} statements`);
      const id = result.body.data!.predict.id;
      const entries = await prisma.auditEvent.findMany({ where: { action: 'prediction.create', resourceIds: { has: id } } });
      assert.equal(entries.length, 1, 'its audit entry');
      const [row] = await prisma.$queryRaw<{ same: boolean }[]>`
        SELECT p.xmin::text::bigint = e."transactionId" % 4294967296 AS same FROM "Prediction" p, "AuditEvent" e WHERE p.id = ${id}::uuid AND e.id = ${entries[0]!.id}::uuid`;
      assert.equal(row?.same, true, 'the prediction and its audit entry were written by one transaction');
    }
  });

  it('writes audited observations in at most 5 statements', async (t) => {
    const caseId = await openCase(api, await createPatient(api));
    const { result, statements } = await statementsOf(() =>
      clinician.gql('mutation($id: ID!) { addObservations(caseId: $id, observations: [{ code: "mean_radius", value: 14.2, unit: "mm" }, { code: "note", text: "firm" }]) { id code value text unit observedAt } }', { id: caseId }),
    );
    assert.equal(result.body.errors, undefined, JSON.stringify(result.body.errors));
    assert.ok(statements <= 5, `${statements} statements`);
    t.diagnostic(`${statements} statements`);
    const added = result.body.data!.addObservations;
    const stored = await prisma.observation.findMany({ where: { caseId }, orderBy: { code: 'asc' } });
    assert.deepEqual(added.map((o: any) => o.id).sort(), stored.map((o) => o.id).sort());
    assert.deepEqual(added.find((o: any) => o.code === 'mean_radius').observedAt, stored.find((o) => o.code === 'mean_radius')!.observedAt.toISOString());
    const [entry] = await prisma.auditEvent.findMany({ where: { action: 'observation.create', patientIds: { isEmpty: false }, resourceIds: { hasEvery: stored.map((o) => o.id) } } });
    assert.ok(entry, 'one audit entry names every observation it stored');
  });

  it('stores no prediction when its audit entry cannot be written (one statement: both or neither)', async () => {
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 41));
    await api.asOwner(`CREATE OR REPLACE FUNCTION test_refuse_prediction_audit() RETURNS trigger AS $$
      BEGIN IF NEW.action = 'prediction.create' THEN RAISE EXCEPTION 'audit storage unavailable'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await api.asOwner(`CREATE TRIGGER test_refuse_prediction_audit BEFORE INSERT ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION test_refuse_prediction_audit()`);
    const before = await predictionCount();
    try {
      const response = await predict(caseId, 'breast-cancer', { explain: false });
      assert.ok(response.body.errors?.length);
      assert.equal(response.body.data?.predict ?? null, null);
    } finally {
      await api.asOwner(`DROP TRIGGER test_refuse_prediction_audit ON "AuditEvent"`);
    }
    assert.equal(await predictionCount(), before, 'the prediction was not stored without its audit entry');
  });

  it('answers a case out of reach as an unknown one, and flags a prediction made under break-glass', async () => {
    const patientId = await createPatient(api);
    const caseId = await caseWithObservations(api, await modelObservations('breast-cancer', 42), patientId);
    const outsider = api.as(people.otherClinician);
    const forbidden = await outsider.gql(predictMutation, { caseId, model: 'breast-cancer', explain: false });
    const unknown = await outsider.gql(predictMutation, { caseId: '00000000-0000-4000-8000-00000000c0de', model: 'breast-cancer', explain: false });
    assert.deepEqual(errorCodes(forbidden), ['FORBIDDEN']);
    assert.deepEqual(forbidden.body, unknown.body);
    const opened = await outsider.gql('mutation($id: ID!) { openBreakGlass(patientId: $id, reason: "patient collapsed in the ward, team unreachable") { expiresAt } }', { id: patientId });
    assert.equal(opened.body.errors, undefined, JSON.stringify(opened.body.errors));
    const made = await outsider.gql(predictMutation, { caseId, model: 'breast-cancer', explain: false });
    assert.equal(made.body.errors, undefined, JSON.stringify(made.body.errors));
    const entries = await prisma.auditEvent.findMany({ where: { patientIds: { has: patientId }, actorSubject: people.otherClinician.sub, action: { in: ['prediction.create', 'observation.read'] } } });
    assert.deepEqual(entries.map((entry) => [entry.action, entry.outcome, entry.breakGlass, entry.purposeOfUse]).sort(), [
      ['observation.read', 'SUCCESS', true, 'ETREAT'],
      ['prediction.create', 'SUCCESS', true, 'ETREAT'],
    ]);
  });
});
