import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InferenceBatcher } from '../../src/predictions/inference-batcher.ts';
import { loadServingModel, readShippedModel } from '../../src/pipeline/index.ts';
import { caseWithObservations, modelObservations } from '../support/fixtures.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

// A wait long enough for concurrent requests to meet at the model even on the embedded database, which runs
// their statements one at a time, each after a turn of the event loop, so they reach inference spread out.
const api = await startTestServer({ DEFAULT_MODELS: 'true', PREDICT_MAX_WAIT_MS: '200' });
const clinician = api.as(people.clinician);
// Batches here wait up to 3 s for company, so requests sit in the queue when the server stops.
const patient = await startTestServer({ DEFAULT_MODELS: 'true', PREDICT_MAX_WAIT_MS: '3000', PREDICT_MAX_BATCH: '64' });

/** A run function that echoes each row's first number, recording the batch sizes it saw. */
function echo(sizes: number[], delayMs = 0) {
  return async (rows: number[][]) => {
    sizes.push(rows.length);
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return rows.map((row) => row[0]!);
  };
}

describe('the inference batcher', () => {
  it('gathers concurrent rows into batches up to the maximum, each caller getting its own result', async () => {
    const sizes: number[] = [];
    const batcher = new InferenceBatcher(echo(sizes, 5), { maxBatch: 8, maxWaitMs: 50, maxQueue: 100 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => batcher.infer([i])));
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(sizes, [8, 8, 4]);
  });

  it('does not keep a lone row waiting longer than the maximum wait', async () => {
    const sizes: number[] = [];
    const batcher = new InferenceBatcher(echo(sizes), { maxBatch: 32, maxWaitMs: 2, maxQueue: 100 });
    assert.equal(await batcher.infer([7]), 7);
    assert.deepEqual(sizes, [1]);
  });

  it('refuses at once with UNAVAILABLE when the queue is full, and serves the rest', async () => {
    const batcher = new InferenceBatcher(echo([], 20), { maxBatch: 2, maxWaitMs: 1, maxQueue: 4 });
    const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => batcher.infer([i])));
    const refused = settled.filter((result) => result.status === 'rejected');
    assert.ok(refused.length > 0);
    for (const result of refused) assert.equal((result as PromiseRejectedResult).reason.extensions.code, 'UNAVAILABLE');
    assert.ok(settled.filter((result) => result.status === 'fulfilled').length >= 4);
  });

  it('fails only the rows of a batch that fails', async () => {
    let call = 0;
    const batcher = new InferenceBatcher(
      async (rows: number[][]) => {
        call += 1;
        if (call === 1) throw new Error('backend hiccup');
        return rows.map((row) => row[0]!);
      },
      { maxBatch: 2, maxWaitMs: 1, maxQueue: 10 },
    );
    const settled = await Promise.allSettled([1, 2, 3, 4].map((value) => batcher.infer([value])));
    assert.deepEqual(settled.map((result) => result.status), ['rejected', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('drains: everything queued finishes', async () => {
    const batcher = new InferenceBatcher(echo([], 10), { maxBatch: 4, maxWaitMs: 50, maxQueue: 100 });
    const pending = Array.from({ length: 10 }, (_, i) => batcher.infer([i]));
    await batcher.drain();
    assert.deepEqual(await Promise.all(pending), Array.from({ length: 10 }, (_, i) => i));
  });
});

describe('predictions under concurrency', () => {
  it('batch many requests together and give each caller the prediction of its own input', async () => {
    const rows = [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55];
    const cases = await Promise.all(rows.map(async (row) => ({ row, caseId: await caseWithObservations(api, await modelObservations('diabetes-progression', row)) })));
    const serving = await loadServingModel((await readShippedModel('diabetes-progression')).result);
    const metricsBefore = await batchCount();
    const responses = await Promise.all(
      cases.map(({ caseId }) => clinician.gql('mutation($id: ID!) { predict(caseId: $id, model: "diabetes-progression", explain: false) { value input } }', { id: caseId })),
    );
    for (const [i, response] of responses.entries()) {
      assert.equal(response.body.errors, undefined);
      const observations = await modelObservations('diabetes-progression', cases[i]!.row);
      const [expected] = await serving.predict([Object.fromEntries(observations.map((o) => [o.code, o.value]))]);
      assert.equal(response.body.data!.predict.value, (expected as { value: number }).value, `case ${i} got its own answer`);
    }
    const after = await batchCount();
    const batches = after.batches - metricsBefore.batches;
    assert.ok(batches > 0 && batches < rows.length, `16 predictions ran in fewer batches (${batches})`);
    assert.equal(after.inferences - metricsBefore.inferences, batches, 'model inference latency is timed once per batch');
  });

  it('finish queued predictions when the server shuts down gracefully', async () => {
    const caseId = await caseWithObservations(patient, await modelObservations('breast-cancer', 60));
    const client = patient.as(people.clinician);
    const queued = Array.from({ length: 10 }, () => client.gql('mutation($id: ID!) { predict(caseId: $id, model: "breast-cancer", explain: false) { id label } }', { id: caseId }));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { db } = patient.server;
    const close = db.close.bind(db);
    let predictionsStoredAtClose = -1;
    db.close = async () => {
      predictionsStoredAtClose = await db.prisma.prediction.count();
      await close();
    };
    await patient.server.stop();
    const responses = await Promise.all(queued);
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.equal(response.body.errors, undefined, JSON.stringify(response.body.errors));
    }
    assert.equal(new Set(responses.map((response) => response.body.data!.predict.id)).size, 10);
    assert.equal(predictionsStoredAtClose, 10, 'the database is closed after the queue drained, with every prediction stored');
    await assert.rejects(client.gql('{ me { subject } }'), 'the stopped server takes no new request');
  });
});

/** Batches run and inference timings taken for the diabetes model so far, from the server's own metrics. */
async function batchCount() {
  const text = await api.server.app.metrics.registry.metrics();
  const count = (metric: string) => Number(new RegExp(`${metric}_count\\{model="diabetes-progression"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { batches: count('clinigraph_model_batch_size'), inferences: count('clinigraph_model_inference_duration_seconds') };
}

