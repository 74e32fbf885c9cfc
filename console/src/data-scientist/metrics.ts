/** The parts of a version's stored evaluation (ModelVersion.metrics) the console shows; the server computes them all. */
export interface Evaluation {
  headline?: string[];
  model?: { metrics?: Record<string, unknown>; intervals?: Record<string, { lower: number; upper: number }> };
  baseline?: { description?: string; metrics?: Record<string, unknown> };
  comparison?: { statement?: string };
  curves?: {
    roc?: { model: { fpr: number; tpr: number }[]; baseline?: { fpr: number; tpr: number }[] } | null;
    calibration?: { model: { meanPredicted: number | null; observed: number | null; count: number }[] } | null;
    /** Regression: observed and predicted values of the test rows. */
    scatter?: { observed: number[]; model: number[]; baseline: number[] } | null;
  };
}

export function evaluationOf(metrics: unknown): Evaluation {
  return metrics && typeof metrics === 'object' ? (metrics as Evaluation) : {};
}

/** "0.988 (0.965 to 1.000)": a headline figure with its 95% interval when there is one. */
export function figureWithInterval(evaluation: Evaluation, name: string): string {
  const value = evaluation.model?.metrics?.[name];
  if (typeof value !== 'number') return '—';
  const interval = evaluation.model?.intervals?.[name];
  return interval ? `${value.toFixed(3)} (${interval.lower.toFixed(3)} to ${interval.upper.toFixed(3)})` : value.toFixed(3);
}
