import { binOf, type PreprocessingState } from '../pipeline/preprocess.ts';
import { type InputValues, labelOf, type StoredOutput, valueOf } from './stored-prediction.ts';

/** One served prediction as monitoring sees it. */
export interface MonitoredPrediction {
  /** The stored input snapshot. */
  input: InputValues;
  output: StoredOutput;
  reviewDecision: 'AGREE' | 'DISAGREE' | null;
  outcome: { label: string | null; value: number | null } | null;
}

export interface FeatureDrift {
  feature: string;
  psi: number;
  level: 'stable' | 'moderate' | 'shifted';
  count: number;
}

export interface PerformanceFigures {
  predictions: number;
  reviewed: number;
  agreed: number;
  agreementRate: number | null;
  withOutcome: number;
  accuracy: number | null;
  rmse: number | null;
  drift: FeatureDrift[];
}

/** Share floor for empty bins, so that the PSI's logarithm stays finite. */
const emptyShare = 1e-4;

/**
 * Population stability index: sum over bins of (actual - expected) * ln(actual / expected).
 * Below 0.1 the population is usually read as stable, 0.1 to 0.25 as a moderate shift, above as shifted.
 */
export function populationStabilityIndex(expected: readonly number[], actual: readonly number[]): number {
  return expected.reduce((sum, e, i) => {
    const p = Math.max(e, emptyShare);
    const q = Math.max(actual[i] ?? 0, emptyShare);
    return sum + (q - p) * Math.log(q / p);
  }, 0);
}

const driftLevel = (psi: number): FeatureDrift['level'] => (psi < 0.1 ? 'stable' : psi < 0.25 ? 'moderate' : 'shifted');

/** Input drift of each tabular feature against its training distribution. */
export function inputDrift(state: PreprocessingState, inputs: readonly InputValues[]): FeatureDrift[] {
  if (state.kind !== 'tabular' || inputs.length === 0) return [];
  const records = inputs.filter((input): input is Record<string, number | string> => !Array.isArray(input));
  return state.features.map((feature) => {
    const values = records.map((record) => record[feature.name]);
    let expected: number[];
    let counts: number[];
    if (feature.kind === 'numeric') {
      expected = feature.bins.shares;
      counts = new Array<number>(expected.length).fill(0);
      for (const value of values) if (typeof value === 'number') counts[binOf(feature.bins.edges, value)]! += 1;
    } else {
      expected = feature.frequencies;
      counts = feature.levels.map((level) => values.filter((value) => value === level).length);
    }
    const total = counts.reduce((a, b) => a + b, 0);
    const psi = total === 0 ? 0 : populationStabilityIndex(expected, counts.map((count) => count / total));
    return { feature: feature.name, psi, level: driftLevel(psi), count: total };
  });
}

/**
 * Live figures of a model version: how often clinicians agreed with it, how
 * it did against recorded outcomes, and whether its inputs drifted.
 */
export function performanceFigures(task: string, state: PreprocessingState, rows: readonly MonitoredPrediction[]): PerformanceFigures {
  const reviewed = rows.filter((row) => row.reviewDecision !== null);
  const agreed = reviewed.filter((row) => row.reviewDecision === 'AGREE').length;
  const withOutcome = rows.filter((row) => row.outcome !== null);
  let accuracy: number | null = null;
  let rmse: number | null = null;
  if (task === 'regression') {
    const pairs = withOutcome
      .map((row) => [valueOf(row.output), row.outcome!.value] as const)
      .filter((pair): pair is readonly [number, number] => typeof pair[0] === 'number' && typeof pair[1] === 'number');
    if (pairs.length > 0) rmse = Math.sqrt(pairs.reduce((sum, [p, y]) => sum + (p - y) ** 2, 0) / pairs.length);
  } else {
    const labelled = withOutcome.filter((row) => row.outcome!.label !== null);
    if (labelled.length > 0) {
      accuracy = labelled.filter((row) => labelOf(row.output) === row.outcome!.label).length / labelled.length;
    }
  }
  return {
    predictions: rows.length,
    reviewed: reviewed.length,
    agreed,
    agreementRate: reviewed.length > 0 ? agreed / reviewed.length : null,
    withOutcome: withOutcome.length,
    accuracy,
    rmse,
    drift: inputDrift(state, rows.map((row) => row.input)),
  };
}
