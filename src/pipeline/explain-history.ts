/*
 * Explanations of sequence models: integrated gradients over the patient's
 * visits, summed per feature (its value and missing-indicator columns at
 * every visit) and kept visit by visit, with the time since the previous
 * visit as an input of its own.
 */
import { attributionExplanation, describe, type ExplainOptions, type FeatureAttribution, refinedIntegratedGradients, type TabularExplanation, type VisitAttribution, valueCoding } from './explain.ts';
import { columnFeatureIndex } from './preprocess.ts';
import { type CleanVisit, type SequenceEncoding, sequenceRow, typicalHistoryRow } from './sequence-encoding.ts';
import { cleanHistory, type ModelInput, type ServingModel } from './serving.ts';
import { formatNumber } from './stats.ts';

/** The gap input's name in attributions (the encoding's step column). */
export const gapFeature = 'time since previous visit';

/**
 * Explains a sequence model's prediction with integrated gradients against a
 * typical history: as many visits as the patient's (up to the steps the
 * network sees), each at the training means with nothing missing, the mean
 * gap apart. Each feature's attribution is the sum over the visits of its
 * value and missing-indicator columns; `visits` keeps it visit by visit. The
 * gap between visits is attributed as the feature "time since previous
 * visit" (days). Attributions add up to the output's difference from the
 * typical history, up to the completeness gap.
 * @param serving a loaded sequence model
 * @param sequence its encoding
 * @param input the patient's visits
 * @throws PipelineError BAD_INPUT for no visits or impossible values
 */
export function explainHistory(serving: ServingModel, sequence: SequenceEncoding, input: ModelInput, options: ExplainOptions): TabularExplanation {
  const { stored } = serving;
  const state = stored.preprocessing;
  const { history, warnings } = cleanHistory(stored, sequence, input);
  const row = Array.from(sequenceRow(sequence, state, history));
  const { result, steps } = refinedIntegratedGradients(serving.model, row, Array.from(typicalHistoryRow(sequence, state, history)), [1], options);
  const kept = history.slice(-sequence.steps);
  const firstStep = sequence.steps - kept.length;
  /** The attribution of one column of a kept visit's step. */
  const at = (k: number, column: number) => result.attributions[(firstStep + k) * sequence.width + column]!;
  const valueColumns = columnFeatureIndex(state);
  const featureCount = stored.features.length;
  const perVisit = (feature: number) =>
    kept.map((visit, k) => ({
      time: visit.time,
      value: visit.values[feature] ?? null,
      attribution: valueColumns.reduce((sum, owner, column) => (owner === feature ? sum + at(k, column) : sum), at(k, valueColumns.length + feature)),
    }));
  const latest = history.at(-1)!;
  const features: FeatureAttribution[] = stored.features.map((feature, index) => {
    const transform = state.kind === 'tabular' ? state.features[index]! : null;
    const value = latest.values[index] ?? null;
    const imputed = value === null;
    const visits = perVisit(index);
    return {
      feature: feature.name,
      label: feature.label,
      unit: feature.unit,
      value: imputed ? (transform?.kind === 'numeric' ? transform.median : transform!.mode) : value,
      imputed,
      typical: feature.typical,
      attribution: sum(visits),
      text: '',
      visits,
    };
  });
  const gapVisits = kept.map((visit, k) => ({ time: visit.time, value: visit.time - previousTime(history, history.length - kept.length + k), attribution: at(k, valueColumns.length + featureCount) }));
  features.push({
    feature: gapFeature,
    label: 'time since the previous visit',
    unit: 'd',
    value: gapVisits.at(-1)!.value,
    imputed: false,
    typical: sequence.gapScale,
    attribution: sum(gapVisits),
    text: '',
    visits: gapVisits,
  });
  const outputName = stored.outcomeLabel;
  const codingOf = (index: number) => (state.kind === 'tabular' && index < featureCount ? valueCoding(state.features[index]!, stored.features[index]!) : undefined);
  const attributions = features.map((item, index) => ({
    ...item,
    text: `${describe(item, outputName, item.feature === gapFeature ? '' : ' at the latest visit', codingOf(index))}${visitsText(item.visits!)}`,
  }));
  const baseline = `a typical history: as many visits as the patient's (up to the ${sequence.steps} the model sees), each with every numeric feature at its training mean, text features at their training shares and nothing missing, ${formatNumber(sequence.gapScale)} days (the mean gap) apart`;
  return attributionExplanation({ result, steps }, { baseline, outputName, attributions, warnings }, options);
}

/** The time of the visit before this one; its own time for the first visit (a gap of 0, as the encoding has it). */
function previousTime(history: readonly CleanVisit[], index: number): number {
  return history[Math.max(0, index - 1)]!.time;
}

function sum(visits: readonly VisitAttribution[]): number {
  return visits.reduce((total, visit) => total + visit.attribution, 0);
}

/** ", summed over 4 visits; most at day 365 (+0.08)": where in the history the feature moved the output. */
function visitsText(visits: readonly VisitAttribution[]): string {
  if (visits.length < 2) return '';
  const largest = visits.reduce((best, visit) => (Math.abs(visit.attribution) > Math.abs(best.attribution) ? visit : best));
  const signed = `${largest.attribution >= 0 ? '+' : '−'}${formatNumber(Math.abs(largest.attribution), 2)}`;
  return `, summed over ${visits.length} visits; most at day ${formatNumber(largest.time)} (${signed}${largest.value === null ? ', not measured' : ''})`;
}
