import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExportParts, partChars } from '../../src/fhir/export-parts.ts';

describe('parts of bulk export files', () => {
  it('hands out a part of each file as it fills, the rest at the end, in sequence, with every line once', () => {
    const parts = new ExportParts(['Patient', 'Observation']);
    const filler = 'x'.repeat(1000);
    const sent: string[] = [];
    const taken = [];
    for (let i = 0; i < 400; i++) {
      const resource = { resourceType: 'Observation' as const, id: `o${i}`, status: 'final' as const, code: { text: filler } };
      parts.add('Observation', resource);
      sent.push(`${JSON.stringify(resource)}\n`);
      taken.push(...parts.take());
    }
    parts.add('Patient', { resourceType: 'Patient', id: 'p1' });
    // Full parts only while the export runs: at most one part's size (plus a line) each.
    assert.ok(taken.length >= 2);
    assert.ok(taken.every((part) => part.type === 'Observation' && part.ndjson.length < partChars + 2000));
    const rest = parts.take(true);
    assert.deepEqual(rest.map((part) => part.type).sort(), ['Observation', 'Patient']);
    const observationParts = [...taken, ...rest].filter((part) => part.type === 'Observation');
    assert.deepEqual(observationParts.map((part) => part.seq), observationParts.map((_, i) => i));
    assert.equal(observationParts.map((part) => part.ndjson).join(''), sent.join(''));
    assert.deepEqual(parts.take(true), []);
    assert.deepEqual(parts.files(), [{ type: 'Patient', count: 1 }, { type: 'Observation', count: 400 }]);
  });
});
