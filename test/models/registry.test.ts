import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer({ DEFAULT_MODELS: 'true' });
const scientist = api.as(people.dataScientist);
const admin = api.as(people.admin);
const { prisma } = api.server.db;
const messyCsv = await readFile(fileURLToPath(new URL('../pipeline/fixtures/messy-clinical.csv', import.meta.url)), 'utf8');

const versionFields = 'id version stage weightsSha256 datasetSha256 seed tfjsVersion backend trainedBy promotedBy promotionComment';

async function waitForJob(id: string) {
  for (let attempt = 0; attempt < 600; attempt++) {
    const job = (await scientist.gql(`query($id: ID!) { trainingJob(id: $id) { status error progress { phase epoch epochs validationLoss } modelVersion { ${versionFields} dataQuality metrics } } }`, { id })).body.data!.trainingJob;
    if (job.status === 'SUCCEEDED' || job.status === 'FAILED') return job;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the training job did not finish in 2 minutes');
}

describe('the registry on a new installation', () => {
  it('holds the four default models, each with a production version meeting its quality bar', async () => {
    const response = await scientist.gql(`{ models { name task target productionVersion { ${versionFields} metrics features { name unit trainingMin trainingMax possibleMin possibleMax } } } }`);
    const models = response.body.data!.models;
    assert.deepEqual(models.map((m: any) => [m.name, m.task, m.target]), [
      ['breast-cancer', 'BINARY', 'diagnosis'],
      ['diabetes-progression', 'REGRESSION', 'progression'],
      ['digits', 'IMAGE', 'label'],
      ['pbc-mortality', 'BINARY', 'death_within_2y'],
    ]);
    const [breast, diabetes, digits, pbc] = models.map((m: any) => m.productionVersion);
    const figure = (version: any, name: string) => version.metrics.model.metrics[name];
    assert.ok(figure(breast, 'accuracy') >= 0.96 && figure(breast, 'auroc') >= 0.99 && figure(breast, 'ece') <= 0.05);
    assert.ok(figure(diabetes, 'r2') >= 0.45);
    assert.ok(figure(digits, 'accuracy') >= 0.97);
    assert.ok(figure(pbc, 'auroc') >= 0.85);
    const bilirubin = pbc.features.find((f: any) => f.name === 'bili');
    assert.deepEqual([bilirubin.unit, bilirubin.possibleMin, bilirubin.possibleMax], ['mg/dL', 0.1, 60]);
    assert.match(breast.weightsSha256, /^[0-9a-f]{64}$/);
    assert.equal(breast.promotionComment, 'Shipped default model, trained by scripts/train-defaults.ts from datasets/.');
    const bmi = diabetes.features.find((f: any) => f.name === 'bmi');
    assert.deepEqual([bmi.unit, bmi.possibleMin, bmi.possibleMax], ['kg/m2', 10, 80]);
    assert.ok(bmi.trainingMin > 10 && bmi.trainingMax < 80);
  });

  it('serves a model card with the TRIPOD+AI items, as Markdown and with ROC and calibration plots', async () => {
    const response = await scientist.gql('{ model(name: "breast-cancer") { productionVersion { card { markdown rocSvg calibrationSvg json } } } }');
    const card = response.body.data!.model.productionVersion.card;
    for (const section of ['Intended use', 'Outcome', 'Data', 'Missing data', 'Validation', 'Performance', 'baseline', 'Limitations']) {
      assert.match(card.markdown, new RegExp(section, 'i'), section);
    }
    assert.match(card.rocSvg, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.match(card.calibrationSvg, /^<svg/);
    assert.ok(card.json.performance.headline.length > 0);
  });

  it('serves a regression model\'s predicted-against-observed and residual plots as card fields of their own', async () => {
    const query = (name: string) => scientist.gql(`{ model(name: "${name}") { productionVersion { card { rocSvg calibrationSvg predictedObservedSvg residualsSvg } } } }`);
    const regression = (await query('diabetes-progression')).body.data!.model.productionVersion.card;
    assert.match(regression.predictedObservedSvg, /^<svg[\s\S]*Predicted against observed[\s\S]*Observed progression[\s\S]*<circle[\s\S]*<\/svg>$/);
    assert.match(regression.residualsSvg, /^<svg[\s\S]*Residuals[\s\S]*Residual \(observed - predicted\)[\s\S]*<circle[\s\S]*<\/svg>$/);
    assert.deepEqual([regression.rocSvg, regression.calibrationSvg], [null, null]);
    const classifier = (await query('breast-cancer')).body.data!.model.productionVersion.card;
    assert.deepEqual([classifier.predictedObservedSvg, classifier.residualsSvg], [null, null]);
  });

  it('reports the TensorFlow.js backend', async () => {
    const response = await api.as(people.clinician).gql('{ modelRuntime { backend tfjsVersion } }');
    assert.deepEqual(response.body.data!.modelRuntime, { backend: 'wasm', tfjsVersion: '4.22.0' });
    const ready = (await (await fetch(new URL('/readyz', api.url))).json()) as Record<string, unknown>;
    assert.equal(ready.tensorflowBackend, 'wasm');
  });
});

describe('training through the API', () => {
  it('trains on an uploaded CSV in the background, reporting progress, and stores a candidate with its data-quality report', async () => {
    const started = await scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id status modelName requestedBy } }', {
      input: {
        name: 'readmission',
        description: 'Readmission risk (test data)',
        task: 'BINARY',
        target: 'readmitted',
        data: { csv: messyCsv },
        seed: 7,
        maxEpochs: 30,
        features: { features: { age: { unit: 'a', type: 'numeric', possibleRange: [0, 120] } } },
        calibrate: false,
        missing: 'DROP_ROWS',
      },
    });
    assert.equal(started.body.errors, undefined, JSON.stringify(started.body.errors));
    assert.deepEqual([started.body.data!.trainModel.status, started.body.data!.trainModel.requestedBy], ['QUEUED', people.dataScientist.sub]);
    const job = await waitForJob(started.body.data!.trainModel.id);
    assert.equal(job.status, 'SUCCEEDED', job.error);
    assert.ok(job.progress.epoch >= 1 && job.progress.epochs >= job.progress.epoch);
    const version = job.modelVersion;
    assert.deepEqual([version.version, version.stage, version.seed, version.trainedBy], [1, 'CANDIDATE', 7, people.dataScientist.sub]);
    // missing: DROP_ROWS and calibrate: false reach the pipeline as the CLI's --missing drop-rows and --no-calibrate do.
    assert.equal(version.dataQuality.rules.imputation, 'rows with any missing feature value are dropped');
    assert.ok(version.dataQuality.notes.some((note: string) => /row\(s\) dropped for a missing feature value \(policy drop-rows\)/.test(note)));
    const stored = await prisma.modelVersion.findUniqueOrThrow({ where: { id: version.id } });
    assert.equal((stored.result as { calibration: unknown }).calibration, null, 'not recalibrated');
    assert.equal(typeof version.metrics.comparison.statement, 'string');
    // The feature specification is stored with the version (and enforced at prediction, as for the shipped models).
    const features = (await scientist.gql('query($id: ID!) { modelVersion(id: $id) { features { name unit possibleMin possibleMax } } }', { id: version.id })).body.data!.modelVersion.features;
    assert.deepEqual(features.find((f: any) => f.name === 'age'), { name: 'age', unit: 'a', possibleMin: 0, possibleMax: 120 });
  });

  it('trains an image classifier from pixel columns', async () => {
    const digits = (await readFile(fileURLToPath(new URL('../../datasets/digits.csv', import.meta.url)), 'utf8')).split('\n').slice(0, 301).join('\n');
    const missingSize = await scientist.gql('mutation($csv: String!) { trainModel(input: { name: "tiny-digits", task: IMAGE, target: "label", data: { csv: $csv } }) { id } }', { csv: digits });
    assert.deepEqual(errorCodes(missingSize), ['BAD_USER_INPUT']);
    const started = await scientist.gql(
      'mutation($csv: String!) { trainModel(input: { name: "tiny-digits", task: IMAGE, target: "label", data: { csv: $csv }, imageWidth: 8, imageHeight: 8, maxEpochs: 3 }) { id } }',
      { csv: digits },
    );
    assert.equal(started.body.errors, undefined, JSON.stringify(started.body.errors));
    const job = await waitForJob(started.body.data!.trainModel.id);
    assert.equal(job.status, 'SUCCEEDED', job.error);
    const version = (await scientist.gql('query($id: ID!) { modelVersion(id: $id) { imageWidth imageHeight classLabels model { task } } }', { id: job.modelVersion.id })).body.data!.modelVersion;
    assert.deepEqual([version.imageWidth, version.imageHeight, version.classLabels.length, version.model.task], [8, 8, 10, 'IMAGE']);
  });

  it('refuses a file it cannot use at once, with the reason, and stores nothing', async () => {
    const jobsBefore = await prisma.trainingJob.count();
    const attempts: [Record<string, unknown>, RegExp][] = [
      [{ csv: '' }, /exactly one data source/],
      [{ csv: messyCsv.replace(/readmitted/, 'outcome_x') }, /target column "readmitted" is not in/],
      [{ csv: `a,readmitted\n${Array.from({ length: 30 }, (_, i) => `${i},yes`).join('\n')}\n` }, /one class|single class|only one/i],
      [{ csv: 'readmitted\n' }, /no usable|data row|empty/i],
    ];
    for (const [data, pattern] of attempts) {
      const response = await scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', {
        input: { name: 'bad-data', task: 'BINARY', target: 'readmitted', data },
      });
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(data));
      assert.match(response.body.errors![0]!.message, pattern);
    }
    const birthWeight = await readFile(fileURLToPath(new URL('../pipeline/fixtures/birth-weight.csv', import.meta.url)), 'utf8');
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{}, /Probable target leak: "bwt" \(AUROC 1\.000\)/],
      [{ exclude: ['bwt'], features: { features: { lwt: { possibleRange: [200, 400] } } } }, /value\(s\) of "lwt" lie outside its possible range 200 to 400/],
      [{ exclude: ['bwt'], features: { features: { lwt: { possibleRange: [400, 200] } } } }, /feature specification is invalid at features\.lwt\.possibleRange/],
      [{ exclude: ['no_such_column'] }, /exclude names columns that are not features/],
    ];
    for (const [extra, pattern] of refusals) {
      const response = await scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', {
        input: { name: 'low-birth-weight', task: 'BINARY', target: 'low', data: { csv: birthWeight }, ...extra },
      });
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(extra));
      assert.match(response.body.errors![0]!.message, pattern);
    }
    assert.equal(await prisma.trainingJob.count(), jobsBefore);
    const badName = await scientist.gql('mutation { trainModel(input: { name: "Bad Name!", task: BINARY, target: "x", data: { fromPlatform: true } }) { id } }');
    assert.deepEqual(errorCodes(badName), ['BAD_USER_INPUT']);
  });

  it('trains on de-identified platform cases with recorded outcomes', async () => {
    // 60 cases of 6 patients: two measurements and an outcome that depends on them.
    const patients = [];
    for (let p = 0; p < 6; p++) {
      patients.push(
        await prisma.patient.create({
          data: { mrn: `PLAT-${p}`, givenName: 'P', familyName: 'Latform', birthDate: new Date(`${1940 + p * 9}-03-01`), sex: p % 2 ? 'FEMALE' : 'MALE' },
        }),
      );
    }
    for (let i = 0; i < 60; i++) {
      const score = (i * 37) % 100;
      const patient = patients[i % 6]!;
      await prisma.case.create({
        data: {
          patientId: patient.id,
          title: 'platform case',
          observations: { create: [{ code: 'marker_a', value: score }, { code: 'marker_b', value: (i * 13) % 50 }] },
          outcomes: { create: { target: 'relapse', label: (score > 50) !== (i % 7 === 0) ? 'yes' : 'no', recordedBy: 'test' } },
        },
      });
    }
    const started = await scientist.gql('mutation { trainModel(input: { name: "relapse", task: BINARY, target: "relapse", data: { fromPlatform: true }, positiveClass: "yes", maxEpochs: 40 }) { id } }');
    assert.equal(started.body.errors, undefined, JSON.stringify(started.body.errors));
    const job = await waitForJob(started.body.data!.trainModel.id);
    assert.equal(job.status, 'SUCCEEDED', job.error);
    const version = (await scientist.gql(`query($id: ID!) { modelVersion(id: $id) { features { name trainingMin trainingMax } dataQuality } }`, { id: job.modelVersion.id })).body.data!.modelVersion;
    assert.deepEqual(version.features.map((f: any) => f.name).sort(), ['age', 'marker_a', 'marker_b', 'sex']);
    // No published range is one patient's exact value: percentiles (1st, 99th), not the minimum and maximum.
    const recorded = Array.from({ length: 60 }, (_, i) => (i * 37) % 100);
    const markerA = version.features.find((f: any) => f.name === 'marker_a');
    assert.ok(markerA.trainingMax < Math.max(...recorded) && markerA.trainingMin > Math.min(...recorded), JSON.stringify(markerA));
    assert.ok(!recorded.includes(markerA.trainingMax) && !recorded.includes(markerA.trainingMin), JSON.stringify(markerA));
    const reported = version.dataQuality.columns.find((c: any) => c.name === 'marker_a').summary;
    assert.ok(!recorded.includes(reported.max) && !recorded.includes(reported.min), JSON.stringify(reported));
    const [collect] = (await api.as(people.auditor).gql('{ auditEvents(first: 1, filter: { action: "training.collect" }) { edges { node { actorSubject patientIds reason } } } }')).body.data!.auditEvents.edges;
    assert.deepEqual(collect.node.actorSubject, people.dataScientist.sub);
    assert.deepEqual(collect.node.reason, 'relapse');
    assert.deepEqual([...collect.node.patientIds].sort(), patients.map((p) => p.id).sort());
  });
});

describe('promotion and rollback', () => {
  it('keeps exactly one production version, archives the previous one, and rolls back', async () => {
    // A second version of the breast-cancer model (same data, another seed).
    const csv = await readFile(fileURLToPath(new URL('../../datasets/wdbc.csv', import.meta.url)), 'utf8');
    const started = await scientist.gql('mutation($input: TrainModelInput!) { trainModel(input: $input) { id } }', {
      input: { name: 'breast-cancer', task: 'BINARY', target: 'diagnosis', data: { csv }, positiveClass: 'malignant', seed: 3, maxEpochs: 20 },
    });
    const job = await waitForJob(started.body.data!.trainModel.id);
    assert.equal(job.status, 'SUCCEEDED', job.error);
    const v2 = job.modelVersion;
    assert.equal(v2.version, 2);
    const promote = (id: string, comment = 'validated') =>
      admin.gql('mutation($id: ID!, $c: String!) { promoteModelVersion(id: $id, comment: $c) { version stage promotedBy promotionComment } }', { id, c: comment });
    assert.deepEqual((await promote(v2.id, 'better calibrated')).body.data!.promoteModelVersion, {
      version: 2,
      stage: 'PRODUCTION',
      promotedBy: people.admin.sub,
      promotionComment: 'better calibrated',
    });
    const stages = async () =>
      (await scientist.gql('{ model(name: "breast-cancer") { versions { version stage } productionVersion { version } } }')).body.data!.model;
    assert.deepEqual(await stages(), { versions: [{ version: 2, stage: 'PRODUCTION' }, { version: 1, stage: 'ARCHIVED' }], productionVersion: { version: 2 } });
    const v1 = await prisma.modelVersion.findFirstOrThrow({ where: { model: { name: 'breast-cancer' }, version: 1 } });
    await promote(v1.id, 'roll back');
    assert.deepEqual(await stages(), { versions: [{ version: 2, stage: 'ARCHIVED' }, { version: 1, stage: 'PRODUCTION' }], productionVersion: { version: 1 } });
    assert.deepEqual(errorCodes(await promote(v1.id)), ['CONFLICT']);
    assert.deepEqual(errorCodes(await api.as(people.clinician).gql('mutation($id: ID!) { promoteModelVersion(id: $id, comment: "x") { id } }', { id: v2.id })), ['FORBIDDEN']);
    // The database itself refuses a second production version, whatever the application does.
    await assert.rejects(prisma.modelVersion.update({ where: { id: v2.id }, data: { stage: 'PRODUCTION' } }), /Unique constraint|unique/i);
  });
});
