import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterEpoch, afterStage, type JobProgress, ProgressWriter } from '../../src/models/training-progress.ts';
import { auditEvents } from '../support/audit.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const api = await startTestServer();
const { prisma } = api.server.db;
const scientist = api.as(people.dataScientist);

const listJobs = `query Jobs($status: TrainingJobStatus, $first: Int, $after: String) {
  trainingJobs(status: $status, first: $first, after: $after) {
    totalCount
    edges { cursor node { id modelName status requestedBy error stage { step detail fraction } progress { epoch epochs } modelVersion { id } createdAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}`;

/** Every page of the list, following endCursor, as the API gives it. */
async function allPages(variables: Record<string, unknown>) {
  const nodes: { id: string; modelName: string; status: string; requestedBy: string }[] = [];
  let after: string | undefined;
  for (;;) {
    const response = await scientist.gql(listJobs, { ...variables, ...(after ? { after } : {}) });
    assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    const page = response.body.data!.trainingJobs;
    nodes.push(...page.edges.map((edge: { node: (typeof nodes)[number] }) => edge.node));
    assert.equal(page.pageInfo.hasPreviousPage, after !== undefined);
    if (!page.pageInfo.hasNextPage) return { nodes, totalCount: page.totalCount as number };
    after = page.pageInfo.endCursor;
  }
}

// Jobs of several people and states; two share a start time, so the id orders them.
const sameInstant = new Date('2026-03-02T10:00:00.000Z');
const seeded = [
  { modelName: 'oldest', status: 'SUCCEEDED', requestedBy: 'ds-other', createdAt: new Date('2026-03-01T09:00:00.000Z') },
  { modelName: 'twin-a', status: 'FAILED', requestedBy: 'admin-ada', createdAt: sameInstant, error: 'No usable rows.' },
  { modelName: 'twin-b', status: 'SUCCEEDED', requestedBy: 'ds-other', createdAt: sameInstant },
  { modelName: 'running', status: 'RUNNING', requestedBy: 'ds-other', createdAt: new Date('2026-03-03T08:00:00.000Z'), progress: { phase: 'training', epoch: 3, epochs: 10 } },
  { modelName: 'newest', status: 'QUEUED', requestedBy: people.dataScientist.sub, createdAt: new Date('2026-03-04T07:00:00.000Z') },
] as const;
const stored = await Promise.all(seeded.map((job) => prisma.trainingJob.create({ data: { options: {}, ...job } })));
const twins = stored.filter((job) => job.createdAt.getTime() === sameInstant.getTime()).sort((a, b) => (a.id < b.id ? 1 : -1));
const newestFirst = [stored[4]!, stored[3]!, ...twins, stored[0]!].map((job) => job.id);

describe('trainingJobs: every training job, newest first', () => {
  it('lists the jobs of everyone, newest first, one page after another, with the total', async () => {
    for (const first of [1, 2, 5]) {
      const { nodes, totalCount } = await allPages({ first });
      assert.deepEqual(nodes.map((job) => job.id), newestFirst, `pages of ${first}`);
      assert.equal(totalCount, seeded.length);
    }
    const { nodes } = await allPages({ first: 5 });
    assert.deepEqual(new Set(nodes.map((job) => job.requestedBy)), new Set(['ds-other', 'admin-ada', people.dataScientist.sub]));
  });

  it('keeps only the jobs in one state, with their progress and errors', async () => {
    const running = (await scientist.gql(listJobs, { status: 'RUNNING' })).body.data!.trainingJobs;
    assert.equal(running.totalCount, 1);
    assert.deepEqual(running.edges[0].node.progress, { epoch: 3, epochs: 10 });
    // Stored before steps were recorded: its epoch shows, and no step.
    assert.equal(running.edges[0].node.stage, null);
    const failed = (await scientist.gql(listJobs, { status: 'FAILED' })).body.data!.trainingJobs;
    assert.deepEqual(failed.edges.map((edge: { node: { modelName: string; error: string } }) => [edge.node.modelName, edge.node.error]), [['twin-a', 'No usable rows.']]);
    const succeeded = await allPages({ status: 'SUCCEEDED', first: 1 });
    const succeededIds = new Set(stored.filter((job) => job.status === 'SUCCEEDED').map((job) => job.id));
    assert.deepEqual(succeeded.nodes.map((job) => job.id), newestFirst.filter((id) => succeededIds.has(id)));
    assert.equal(succeeded.totalCount, 2);
  });

  it('shows a job started through the API at the top, with its progress until it ends', async () => {
    const csv = `x,y\n${Array.from({ length: 40 }, (_, i) => `${((i * 37) % 17) + (i % 3) / 2},${i % 2 ? 'a' : 'b'}`).join('\n')}\n`;
    const started = await scientist.gql('mutation($csv: String!) { trainModel(input: { name: "listed-job", task: BINARY, target: "y", data: { csv: $csv }, maxEpochs: 3 }) { id } }', { csv });
    assert.equal(started.body.errors, undefined, JSON.stringify(started.body.errors));
    const id = started.body.data!.trainModel.id;
    const steps = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      const top = (await scientist.gql(listJobs, { first: 1 })).body.data!.trainingJobs.edges[0].node;
      assert.equal(top.id, id);
      if (top.stage) steps.add(top.stage.step);
      if (top.status === 'SUCCEEDED') {
        assert.ok(top.progress.epoch >= 1 && top.progress.epoch <= top.progress.epochs, JSON.stringify(top.progress));
        assert.ok(top.modelVersion.id);
        // The last step reached is kept with the end, whatever the polling saw on the way.
        assert.deepEqual(top.stage, { step: 'evaluating', detail: 'metrics and bootstrap intervals', fraction: 0.6 });
        break;
      }
      assert.notEqual(top.status, 'FAILED', top.error);
      assert.ok(attempt < 300, 'the job did not finish in a minute');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok([...steps].every((step) => ['checking the data', 'training model', 'training baseline', 'evaluating'].includes(step)), [...steps].join(', '));
  });

  it('writes every step of a job as it starts, and within a step at most once an interval; the latest is kept for the end', async () => {
    const written: JobProgress[] = [];
    const writer = new ProgressWriter(async (progress) => void written.push(progress), 60_000);
    const epoch = (phase: 'model' | 'baseline', n: number) => ({ phase, epoch: n, epochs: 5, loss: 0.5, valLoss: 0.6, valMetric: 0.7, valMetricName: 'accuracy' });
    for (const detail of ['possible ranges', 'leak checks']) writer.update((progress) => afterStage(progress, { stage: 'check', detail, fraction: 0.5 }));
    for (const phase of ['model', 'baseline'] as const) for (let n = 1; n <= 5; n++) writer.update(() => afterEpoch(epoch(phase, n)));
    for (const detail of ['recalibration', 'metrics and bootstrap intervals']) writer.update((progress) => afterStage(progress, { stage: 'evaluate', detail, fraction: 0.5 }));
    const { progress: end } = await writer.settled();
    assert.deepEqual(written.map((progress) => [progress.stage!.step, progress.stage!.detail]), [
      ['checking the data', 'possible ranges'],
      ['training model', 'epoch 1/5'],
      ['training baseline', 'epoch 1/5'],
      ['evaluating', 'recalibration'],
    ]);
    // The end carries the last step and the last epoch's figures, which the interval held back.
    assert.deepEqual(end!.stage, { step: 'evaluating', detail: 'metrics and bootstrap intervals', fraction: 0.5 });
    assert.deepEqual([end!.phase, end!.epoch, end!.epochs, end!.validationMetricName], ['baseline', 5, 5, 'accuracy']);
  });

  it('is for data scientists and admins: other roles get FORBIDDEN (audited) at its path, and the rest of the answer', async () => {
    const admin = await api.as(people.admin).gql('{ trainingJobs(first: 1) { totalCount } }');
    assert.equal(admin.body.errors, undefined, JSON.stringify(admin.body.errors));
    for (const identity of [people.clinician, people.auditor]) {
      const response = await api.as(identity).gql('{ me { subject } trainingJobs(first: 50) { totalCount edges { node { modelName } } } }');
      assert.deepEqual(errorCodes(response), ['FORBIDDEN']);
      assert.deepEqual(response.body.errors![0]!.path, ['trainingJobs']);
      assert.deepEqual(response.body.data, { me: { subject: identity.sub }, trainingJobs: null });
      const [denial] = await auditEvents(api, { actorSubject: identity.sub, outcome: 'DENIED' }, 1);
      assert.equal(denial?.action, 'model.train');
    }
  });

  it('answers BAD_USER_INPUT naming the argument for a cursor it did not issue or a page size out of range', async () => {
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const badCursors = ['not-a-cursor', cursor(['2026-01-01T00:00:00.000Z', "x'; DROP TABLE \"TrainingJob\" --"]), cursor(['-271821-04-20T00:00:00.000Z', stored[0]!.id])];
    for (const after of badCursors) {
      const response = await scientist.gql(listJobs, { after });
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(response.body));
      assert.equal(response.body.errors![0]!.extensions!.argument, 'after');
    }
    for (const first of [0, -1, 100_000]) {
      const response = await scientist.gql(listJobs, { first });
      assert.deepEqual(errorCodes(response), ['BAD_USER_INPUT'], JSON.stringify(response.body));
      assert.equal(response.body.errors![0]!.extensions!.argument, 'first');
    }
    const badStatus = await scientist.gql(listJobs, { status: 'DONE' });
    assert.ok(errorCodes(badStatus).length > 0 && errorCodes(badStatus).every((code) => ['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'].includes(code)), JSON.stringify(badStatus.body));
    assert.equal(await prisma.trainingJob.count({ where: { modelName: { in: seeded.map((job) => job.modelName) } } }), seeded.length, 'nothing stored was lost');
  });
});
