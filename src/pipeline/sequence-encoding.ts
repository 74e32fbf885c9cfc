/*
 * How a patient's visits become one input row of a sequence model, the same
 * in training and in serving: the last `steps` visits up to the one
 * predicted, each encoded as its standardized values (missing filled with
 * the training median or mode), a missing indicator per feature, the time
 * since the previous visit and a visit marker; earlier steps are zeros
 * (padding, which no real visit looks like: its marker is 1). The network
 * reshapes the flat row into [steps, width].
 */
import type { RawValue } from './csv.ts';
import { baselineRow, encodeRow, type PreprocessingState } from './preprocess.ts';
import type { CleanValue } from './quality.ts';

/** What serving needs to rebuild a sequence row. JSON-serializable; stored with the version. */
export interface SequenceEncoding {
  /** The training data's patient column and visit-time column. */
  id: string;
  time: string;
  /** Most recent visits the network sees. */
  steps: number;
  /** Values per visit: the preprocessing columns, one missing indicator per feature, the gap and the visit marker. */
  width: number;
  /** Gaps are divided by this (the mean gap between training visits, in the time column's unit). */
  gapScale: number;
  /** Features constant within every training patient (age at entry, sex): each visit carries the patient's latest value. */
  staticFeatures: string[];
  /** How the examples were labelled and how many visits were history only, in words (for the card). */
  description: string;
}

/** One visit as collected: its time and its values by feature name. */
export interface Visit {
  time: number;
  values: Record<string, RawValue>;
}

/** One visit after cleaning: per feature its value or null (missing). */
export interface CleanVisit {
  time: number;
  values: CleanValue[];
}

/** The names of one step's inputs, in order. */
export function stepColumns(state: PreprocessingState): string[] {
  if (state.kind !== 'tabular') return [];
  return [...state.columns, ...state.features.map((feature) => `${feature.name} missing`), 'time since previous visit', 'visit'];
}

/** Inputs per step for a preprocessing state. */
export function stepWidth(state: PreprocessingState): number {
  return state.columns.length + (state.kind === 'tabular' ? state.features.length : 0) + 2;
}

/**
 * Fills static features on every visit with the patient's latest known value,
 * so that a value recorded once (sex, age at entry) counts on each visit, as
 * it did in the training rows.
 * @param visits one patient's visits in time order
 * @param staticIndices indices of static features in the values
 */
export function fillStatic(visits: readonly CleanVisit[], staticIndices: readonly number[]): CleanVisit[] {
  const latest = staticIndices.map((index) => visits.findLast((visit) => visit.values[index] !== null)?.values[index] ?? null);
  return visits.map((visit) => {
    const values = [...visit.values];
    staticIndices.forEach((index, k) => (values[index] = latest[k]!));
    return { time: visit.time, values };
  });
}

/**
 * The model row of one patient's history: its last `steps` visits (time
 * order), left-padded with zeros.
 * @param encoding the stored sequence encoding
 * @param state the per-visit preprocessing fitted on training visits
 * @param visits the visits up to and including the one predicted, in time order
 */
export function sequenceRow(encoding: SequenceEncoding, state: PreprocessingState, visits: readonly CleanVisit[]): Float32Array {
  const row = new Float32Array(encoding.steps * encoding.width);
  const kept = visits.slice(-encoding.steps);
  const first = encoding.steps - kept.length;
  kept.forEach((visit, k) => {
    const previous = k > 0 ? kept[k - 1]!.time : visits.length > kept.length ? visits[visits.length - kept.length - 1]!.time : visit.time;
    row.set(visitStep(encoding, state, visit, visit.time - previous), (first + k) * encoding.width);
  });
  return row;
}

/**
 * The reference of a sequence explanation: as many visits as the input row
 * holds, each a typical training visit (numeric features at their training
 * mean, text features at their training shares, nothing missing), the mean
 * gap apart; the patient's first visit keeps its gap of 0 (there is no
 * earlier visit), and padding stays padding.
 * @param visits the visits explained, in time order
 */
export function typicalHistoryRow(encoding: SequenceEncoding, state: PreprocessingState, visits: readonly CleanVisit[]): Float32Array {
  const row = new Float32Array(encoding.steps * encoding.width);
  const kept = Math.min(visits.length, encoding.steps);
  const typical = [...baselineRow(state), ...(state.kind === 'tabular' ? state.features.map(() => 0) : [])];
  for (let k = 0; k < kept; k++) {
    const firstVisit = k === 0 && visits.length <= encoding.steps;
    row.set([...typical, firstVisit ? 0 : 1, 1], (encoding.steps - kept + k) * encoding.width);
  }
  return row;
}

/** One visit's step: encoded values, missing indicators, gap, marker. */
function visitStep(encoding: SequenceEncoding, state: PreprocessingState, visit: CleanVisit, gap: number): number[] {
  return [...encodeRow(state, visit.values), ...visit.values.map((value) => (value === null ? 1 : 0)), gap / encoding.gapScale, 1];
}

/** The last visit's values and missing indicators (the baseline's input): one step without gap and marker. */
export function lastVisitRow(state: PreprocessingState, visit: CleanVisit): number[] {
  return [...encodeRow(state, visit.values), ...visit.values.map((value) => (value === null ? 1 : 0))];
}
