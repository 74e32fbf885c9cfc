import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SaliencyMap } from '../../src/pipeline/index.ts';
import { type PredictionView, toRiskAssessment } from '../../src/fhir/fhir-resources.ts';
import { validate } from '../../src/fhir/validation.ts';

const at = new Date('2026-03-02T10:00:00Z');

/** A digits prediction as stored, explained by a saliency map of the image model. */
function digitsPrediction(explanation: SaliencyMap): PredictionView {
  return {
    prediction: {
      id: '11111111-1111-4111-8111-111111111111',
      patientId: '22222222-2222-4222-8222-222222222222',
      caseId: '33333333-3333-4333-8333-333333333333',
      createdAt: at,
      output: { label: '7', probabilities: { '7': 0.9, '1': 0.1 } },
      explanation,
    } as unknown as PredictionView['prediction'],
    model: { name: 'digits', description: 'Handwritten digits.', target: 'label' } as unknown as PredictionView['model'],
    version: { id: '44444444-4444-4444-8444-444444444444', version: 1 } as unknown as PredictionView['version'],
    basis: [],
  };
}

describe('RiskAssessment rationale', () => {
  it('carries a saliency map\'s largest pixels in the explanation extension, as it does integrated gradients\' features', () => {
    const values = Array.from({ length: 8 }, () => Array.from({ length: 8 }, () => 0.001));
    values[2]![3] = 0.4;
    values[5]![1] = -0.6;
    values[0]![7] = 0.05;
    const risk = toRiskAssessment(digitsPrediction({ method: 'gradient-saliency', label: '7', probability: 0.9, width: 8, height: 8, values }));
    validate(risk);
    const features = (risk.extension ?? []).map((extension) => Object.fromEntries(extension.extension!.map((part) => [part.url, part.valueString ?? part.valueDecimal])));
    assert.equal(features.length, 5);
    assert.deepEqual(features.slice(0, 3).map((f) => [f.feature, f.attribution, f.method]), [
      ['px41', -0.6, 'gradient-saliency'],
      ['px19', 0.4, 'gradient-saliency'],
      ['px7', 0.05, 'gradient-saliency'],
    ]);
    assert.match(String(features[0]!.text), /row 5, column 1 would lower the probability of 7/);
  });
});
