import type { Prediction, SequenceHistory, Visit } from '../pipeline/index.ts';
import type { StoredExplanation } from './explanation.ts';

/*
 * The one codec of a prediction's JSON columns (input, output, qualityFlags,
 * explanation): what is written is built here, and what is read is named
 * here, so the service, the resolvers and monitoring read one shape.
 */

/** The exact input a model was run on: values by feature name, or an image's pixels (row-major). */
export type InputValues = Record<string, number | string> | number[];

/** How long the model and the explanation took, in milliseconds. */
export interface Timings {
  modelMs: number;
  explanationMs: number;
}

/** The model's answer without its warnings (they are kept in the quality flags). */
type Answer<T = Prediction> = T extends unknown ? Omit<T, 'warnings'> : never;

/** What `Prediction.output` holds: the model's answer (class probabilities and label, or a value) and how to read it. */
export type StoredOutput = Answer & {
  outcomeLabel: string;
  threshold: number | null;
  timings: Timings;
};

/** What `Prediction.qualityFlags` holds. */
export interface QualityFlags {
  /** Features outside the range the model was trained on. */
  outOfDistribution: string[];
  /** What the encoding imputed or found unusual. */
  warnings: string[];
  /**
   * The autoencoder's check of the whole input: reconstruction error over the training rows' 99th percentile, flagged
   * above 1; null for models without an autoencoder (sequence, image). Absent in predictions stored before it was kept.
   */
  outOfDistributionScore?: { score: number; flagged: boolean } | null;
}

/** The JSON columns of a new prediction. */
export function predictionColumns(prediction: { values: InputValues; history?: Visit[]; output: StoredOutput; flags: QualityFlags; explanation: StoredExplanation | null }) {
  return {
    // A sequence model's input is the history; `values` is its latest visit.
    input: { values: prediction.values, ...(prediction.history ? { history: prediction.history as object[] } : {}) },
    output: prediction.output as object,
    qualityFlags: prediction.flags as object,
    ...(prediction.explanation ? { explanation: explanationColumn(prediction.explanation) } : {}),
  };
}

/** The explanation column's value. */
export const explanationColumn = (explanation: StoredExplanation): object => explanation;

export const inputOf = (row: { input: unknown }): InputValues => (row.input as { values: InputValues }).values;
/** What the model was run on: a sequence model's history of visits, else the values (or pixels). */
export const modelInputOf = (row: { input: unknown }): InputValues | SequenceHistory => {
  const { values, history } = row.input as { values: InputValues; history?: Visit[] };
  return history ? { visits: history } : values;
};
export const outputOf = (row: { output: unknown }): StoredOutput => row.output as StoredOutput;
export const flagsOf = (row: { qualityFlags: unknown }): QualityFlags => row.qualityFlags as QualityFlags;
export const explanationOf = (row: { explanation: unknown }): StoredExplanation | null => (row.explanation ?? null) as StoredExplanation | null;

/** The class label of an output, if it is a classifier's. */
export const labelOf = (output: StoredOutput): string | null => ('label' in output ? output.label : null);
/** The value of an output, if it is a regression's. */
export const valueOf = (output: StoredOutput): number | null => ('value' in output ? output.value : null);
