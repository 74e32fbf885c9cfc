import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { storedResultOf, trainingResultOf, versionColumns } from '../../src/models/stored-version.ts';
import { defaultModel, readShippedModel } from '../../src/pipeline/index.ts';

describe('the ModelVersion codec', () => {
  it('keeps the weights out of the JSON result, and puts the same bytes back for serving', async () => {
    const { result } = await readShippedModel('breast-cancer');
    const columns = versionColumns(result, defaultModel('breast-cancer').card);
    // What the database gives back: JSON through a round trip, the bytes apart.
    const row = { result: JSON.parse(JSON.stringify(columns.result)) as unknown, weights: new Uint8Array(columns.weights) };
    const stored = storedResultOf(row);
    assert.equal('weightData' in stored.artifact, false);
    assert.equal('weightDataBase64' in stored.artifact, false);
    assert.equal(stored.target, result.target);
    const served = trainingResultOf(row);
    assert.equal(createHash('sha256').update(served.artifact.weightData).digest('hex'), result.weightsSha256);
    assert.deepEqual(served.artifact.weightSpecs, result.artifact.weightSpecs);
  });
});
