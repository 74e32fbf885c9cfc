/*
 * The shipped sequence model through the API: predict on a case reads the
 * patient's observation history across their cases (checked and audited),
 * and answers what the model answers on those visits; a longitudinal upload
 * with a bad sequence column is refused with a code.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { datasetsDir, defaultModel, explainPrediction, loadServingModel, type RawRecord, readCsvFile, readShippedModel, recordAt } from '../../src/pipeline/index.ts';
import { auditEvents } from '../support/audit.ts';
import { caseWithObservations, createPatient, modelObservations } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const clinician = api.as(people.clinician);
const scientist = api.as(people.dataScientist);
const { prisma } = api.server.db;

const shipped = (await readShippedModel('pbc-mortality')).result;
const dataset = await readCsvFile(path.join(datasetsDir, defaultModel('pbc-mortality').dataset));
const records = Array.from({ length: dataset.rowCount }, (_, row) => recordAt(dataset, row));
/** Patient 3 of pbcseq: four visits, cholesterol missing on the second; here not measured on the last either. */
const visits = records.filter((record) => record.id === 3).slice(0, 4).map((record, k) => (k === 3 ? { ...record, chol: null } : record));
const enrolment = Date.UTC(2015, 0, 1);
const dayMs = 86_400_000;

/** A visit's observations as a clinician records them: each feature by its code and unit, measured ones only. */
function observationsOf(record: RawRecord) {
  return shipped.features.flatMap((feature) => {
    const value = record[feature.name];
    if (value === null || value === undefined) return [];
    const observedAt = new Date(enrolment + (record.day as number) * dayMs + 9 * 3_600_000).toISOString();
    return [feature.kind === 'numeric' ? { code: feature.name, value: Number(value), unit: feature.unit, observedAt } : { code: feature.name, text: String(value), observedAt }];
  });
}

const explanationFields = 'explanation { method output baselineOutput summary attributions { feature unit attribution text visits { time value attribution } } }';
const predictMutation = `mutation($caseId: ID!, $explain: Boolean) {
  predict(caseId: $caseId, model: "pbc-mortality", explain: $explain) { id label input warnings probabilities { label probability } conformal { set } ${explanationFields} }
}`;

describe('predict with the sequence model pbc-mortality', () => {
  it('uses the patient\'s visits across cases and answers what the model answers on them', async () => {
    const patientId = await createPatient(api);
    await caseWithObservations(api, visits.slice(0, 2).flatMap(observationsOf), patientId);
    const caseId = await caseWithObservations(api, visits.slice(2).flatMap(observationsOf).filter((o) => o.code !== 'age' && o.code !== 'sex'), patientId);
    const response = await clinician.gql(predictMutation, { caseId });
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    const prediction = response.body.data!.predict;

    const serving = await loadServingModel(shipped);
    const history = visits.map((record) => ({ time: (record.day as number) - (visits[0]!.day as number), values: record }));
    const [expected] = await serving.predict([{ visits: history }]);
    assert.deepEqual(Object.fromEntries(prediction.probabilities.map((p: any) => [p.label, p.probability])), (expected as any).probabilities);
    assert.equal(prediction.label, (expected as any).label);
    // The conformal set as the model computes it (least ambiguous sets: possibly empty when no class reaches the bar).
    assert.deepEqual(prediction.conformal.set, (expected as any).conformal.set);
    // Explained over the visits as the pipeline explains that history: per feature, visit by visit, with the gaps.
    const reference = explainPrediction(serving, { visits: history });
    assert.equal(prediction.explanation.method, 'integrated-gradients');
    assert.equal(prediction.explanation.output, reference.output);
    assert.deepEqual(prediction.explanation.summary, reference.top);
    const bili = prediction.explanation.attributions.find((item: any) => item.feature === 'bili');
    assert.equal(bili.unit, 'mg/dL');
    assert.deepEqual(bili.visits.map((visit: any) => visit.time), history.map((visit) => visit.time));
    const chol = prediction.explanation.attributions.find((item: any) => item.feature === 'chol');
    assert.equal(chol.visits.at(-1).value, null, 'cholesterol was not measured at the last visit');
    assert.ok(prediction.explanation.attributions.some((item: any) => item.feature === 'time since previous visit' && item.unit === 'd'));
    serving.dispose();
    // Cholesterol not measured at the last visit is missing there (its indicator is set); sex and age, recorded in the
    // first case only, are carried onto the later visits as static features, not missing.
    assert.ok(prediction.warnings.some((warning: string) => warning.startsWith('chol is missing')), JSON.stringify(prediction.warnings));
    assert.ok(!prediction.warnings.some((warning: string) => /^(age|sex) is missing/.test(warning)), JSON.stringify(prediction.warnings));
    // The latest visit's values are the input shown; the whole history is stored with the prediction.
    assert.equal(prediction.input.bili, visits.at(-1)!.bili);
    const stored = await prisma.prediction.findUniqueOrThrow({ where: { id: prediction.id } });
    assert.deepEqual((stored.input as { history: { time: number }[] }).history.map((visit) => visit.time), history.map((visit) => visit.time));
    // The history was read through the access layer, which recorded it.
    const reads = await auditEvents(api, { patientId, action: 'observation.read', actorSubject: people.clinician.sub });
    assert.ok(reads.some((event) => event.resourceType === 'Patient' && event.outcome === 'SUCCESS'), JSON.stringify(reads));
  });

  it('explains a prediction made without explanation later, from its stored history', async () => {
    const patientId = await createPatient(api);
    const caseId = await caseWithObservations(api, visits.flatMap(observationsOf), patientId);
    const made = await clinician.gql(predictMutation, { caseId, explain: false });
    assert.equal(made.body.errors, undefined, JSON.stringify(made.body.errors));
    assert.equal(made.body.data!.predict.explanation, null);
    const later = await clinician.gql(`mutation($id: ID!) { explainPrediction(id: $id) { ${explanationFields} } }`, { id: made.body.data!.predict.id });
    assert.equal(later.body.errors, undefined, JSON.stringify(later.body.errors));
    const { explanation } = later.body.data!.explainPrediction;
    assert.ok(Math.abs(explanation.output - made.body.data!.predict.probabilities.find((p: any) => p.label === shipped.positiveClass).probability) < 1e-6);
    const total = explanation.attributions.reduce((sum: number, item: any) => sum + item.attribution, 0);
    assert.ok(Math.abs(total - (explanation.output - explanation.baselineOutput)) <= 0.05 * Math.abs(explanation.output - explanation.baselineOutput), 'complete');
  });

  it('reads the history in the case\'s own statement: as many statements as a tabular prediction, one audited read of the patient', async () => {
    const patientId = await createPatient(api);
    await caseWithObservations(api, visits.slice(0, 2).flatMap(observationsOf), patientId);
    const caseId = await caseWithObservations(api, visits.slice(2).flatMap(observationsOf), patientId);
    const tabularCase = await caseWithObservations(api, await modelObservations('breast-cancer', 3));
    const statementsOf = async (query: string, variables: Record<string, unknown>) => {
      let statements = 0;
      const stop = api.server.db.onQuery(() => statements++);
      const response = await clinician.gql(query, variables);
      stop();
      assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
      return statements;
    };
    const tabular = 'mutation($caseId: ID!) { predict(caseId: $caseId, model: "breast-cancer", explain: false) { id } }';
    // Both models served once already (warm-up, the tests above), so each request pays for its own work only.
    await statementsOf(tabular, { caseId: tabularCase });
    await statementsOf(predictMutation, { caseId, explain: false });
    const sequence = await statementsOf(predictMutation, { caseId, explain: false });
    assert.equal(sequence, await statementsOf(tabular, { caseId: tabularCase }));
    const reads = await auditEvents(api, { patientId, action: 'observation.read', actorSubject: people.clinician.sub });
    assert.equal(reads.length, 2, JSON.stringify(reads));
    assert.ok(reads.every((event) => event.resourceType === 'Patient' && event.resourceIds.includes(patientId)), JSON.stringify(reads));
  });

  it('reads the history again when the guess was wrong (a version named for the first time), and answers the same', async () => {
    const patientId = await createPatient(api);
    const caseId = await caseWithObservations(api, visits.flatMap(observationsOf), patientId);
    const named = 'mutation($caseId: ID!) { predict(caseId: $caseId, model: "pbc-mortality", version: 1, explain: false) { probabilities { label probability } } }';
    const first = await clinician.gql(named, { caseId });
    assert.equal(first.body.errors, undefined, JSON.stringify(first.body.errors));
    const production = await clinician.gql(predictMutation, { caseId, explain: false });
    assert.deepEqual(first.body.data!.predict.probabilities, production.body.data!.predict.probabilities);
    // The first request read the case's own observations, then the patient's history: one entry naming both; the second, the history.
    const reads = await auditEvents(api, { patientId, action: 'observation.read', actorSubject: people.clinician.sub });
    assert.equal(reads.length, 2, 'one entry a request');
    const kinds = reads.map((event) => event.entities.filter((entity) => entity.action === 'observation.read').map((entity) => entity.resourceType));
    assert.deepEqual(kinds, [['Patient'], ['Case', 'Patient']], 'newest first');
  });

  it('refuses a patient without any observation the model uses, and a value in the wrong unit, with codes', async () => {
    const none = await caseWithObservations(api, [{ code: 'heart_rate', value: 70, unit: '/min' }]);
    const empty = await clinician.gql(predictMutation, { caseId: none });
    assert.deepEqual(errorCodes(empty), ['BAD_USER_INPUT']);
    assert.equal(empty.body.errors![0]!.extensions!.reason, 'missing-features');
    const wrongUnit = await caseWithObservations(api, [{ code: 'bili', value: 20, unit: 'umol/L' }]);
    const refused = await clinician.gql(predictMutation, { caseId: wrongUnit });
    assert.deepEqual(errorCodes(refused), ['BAD_USER_INPUT']);
    assert.equal(refused.body.errors![0]!.extensions!.reason, 'wrong-unit');
  });
});

describe('training a sequence model through the API', () => {
  const csv = ['id,day,bili,died', '1,0,1.2,no', '1,180,1.5,yes', '2,0,0.8,no'].join('\n');
  const train = (sequence: Record<string, string>, data = csv) =>
    scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', {
      input: { name: 'visits', task: 'BINARY', target: 'died', data: { csv: data }, sequence },
    });

  it('refuses a missing sequence column and a visit time that is not a number, with a code, and queues nothing', async () => {
    const jobs = await prisma.trainingJob.count();
    const missing = await train({ id: 'patient', time: 'day' });
    assert.deepEqual(errorCodes(missing), ['BAD_USER_INPUT']);
    assert.match(missing.body.errors![0]!.message, /sequence column patient .*not in the data/);
    const notNumber = await train({ id: 'id', time: 'day' }, csv.replace('1,180,', '1,later,'));
    assert.deepEqual(errorCodes(notNumber), ['BAD_USER_INPUT']);
    assert.match(notNumber.body.errors![0]!.message, /visit time day must be a number/);
    assert.equal(await prisma.trainingJob.count(), jobs);
  });
});

describe('a sequence model trained on the platform\'s own observations', () => {
  it('trains on each patient\'s days of observations across cases, labelled by the cases\' outcomes, and predicts from a patient\'s history', async () => {
    // 30 patients, 3 cases each, 2 days of a marker per case; a case's outcome follows the marker, not perfectly.
    const patientIds: string[] = [];
    for (let p = 0; p < 30; p++) {
      const patient = await prisma.patient.create({ data: { mrn: `SEQ-PLAT-${p}`, givenName: 'S', familyName: 'Eq', birthDate: new Date('1950-01-01'), sex: p % 2 ? 'FEMALE' : 'MALE' } });
      patientIds.push(patient.id);
      for (let c = 0; c < 3; c++) {
        const level = ((p * 37 + c * 11) % 100) / 10 + c * 0.5;
        const day = (k: number) => new Date(enrolment + (c * 90 + k * 7) * dayMs);
        await prisma.case.create({
          data: {
            patientId: patient.id,
            title: 'follow-up',
            observations: { create: [{ code: 'marker', value: level - 0.3, observedAt: day(0) }, { code: 'marker', value: level, observedAt: day(1) }] },
            outcomes: { create: { target: 'flare', label: (level > 5.5) !== ((p + c) % 6 === 0) ? 'yes' : 'no', recordedBy: 'test' } },
          },
        });
      }
    }
    const started = await scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', {
      input: { name: 'flare-visits', task: 'BINARY', target: 'flare', positiveClass: 'yes', data: { fromPlatform: true }, sequence: { id: 'patient', time: 'day' }, maxEpochs: 3 },
    });
    assert.equal(started.body.errors, undefined, JSON.stringify(started.body.errors));
    let job: any;
    for (let attempt = 0; attempt < 600 && !['SUCCEEDED', 'FAILED'].includes(job?.status); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      job = (await scientist.gql('query($id: ID!) { trainingJob(id: $id) { status error modelVersion { id version dataQuality } } }', { id: started.body.data!.trainModel.id })).body.data!.trainingJob;
    }
    assert.equal(job.status, 'SUCCEEDED', job.error);
    const quality = job.modelVersion.dataQuality;
    // 180 days of observations, 90 labelled (each case's last day); no patient id or date leaves the database.
    assert.deepEqual([quality.rowsRead, quality.usableRows], [180, 90]);
    const stored = JSON.stringify((await prisma.modelVersion.findUniqueOrThrow({ where: { id: job.modelVersion.id } })).result);
    assert.ok(patientIds.every((id) => !stored.includes(id)), 'pseudonyms only');
    assert.match(stored, /"kind":"gru"|GRU/i);

    // Predicting reads a patient's history across cases, as for the shipped sequence model.
    const patientId = await createPatient(api);
    const observation = (value: number, day: number) => ({ code: 'marker', value, observedAt: new Date(enrolment + day * dayMs).toISOString() });
    await caseWithObservations(api, [observation(4, 0), observation(4.5, 7)], patientId);
    const caseId = await caseWithObservations(api, [observation(7, 90), observation(8, 97)], patientId);
    const predicted = await clinician.gql('mutation($caseId: ID!) { predict(caseId: $caseId, model: "flare-visits", version: 1) { label input probabilities { label probability } } }', { caseId });
    assert.equal(predicted.body.errors, undefined, JSON.stringify(predicted.body.errors));
    assert.deepEqual(predicted.body.data!.predict.input, { marker: 8 });
    assert.ok(['yes', 'no'].includes(predicted.body.data!.predict.label));
  });
});
