import { explainOffThread, type SaliencyMap, saliencyMap, type SequenceHistory, type ServingModel, type TabularExplanation } from '../pipeline/index.ts';
import type { InputValues } from './stored-prediction.ts';

/** What a prediction stores as its explanation: attributions (tables) or a saliency map (images). */
export type StoredExplanation = TabularExplanation | SaliencyMap;

/**
 * Explains a model's answer on one input: integrated gradients against a
 * typical training case for tabular models (for sequence models, over the
 * patient's visits against a typical history), a gradient saliency map for
 * image models. A sequence model's explanation runs in a worker thread, so
 * that it does not hold the request thread (explainOffThread).
 * @throws PipelineError BAD_INPUT for an input the model cannot take
 */
export async function explain(serving: ServingModel, input: InputValues | SequenceHistory): Promise<StoredExplanation> {
  return Array.isArray(input) ? saliencyMap(serving, input) : explainOffThread(serving, input);
}

/** The GraphQL view of a stored explanation. */
export function explanationView(explanation: StoredExplanation) {
  if (explanation.method === 'gradient-saliency') {
    return {
      method: explanation.method,
      outputName: `probability of ${explanation.label}`,
      output: explanation.probability,
      baselineOutput: null,
      attributions: [],
      summary: [`Pixels with large positive values are where more ink would most raise the probability of ${explanation.label}.`],
      completenessGap: null,
      completenessFlagged: false,
      saliency: { label: explanation.label, width: explanation.width, height: explanation.height, values: explanation.values.flat() },
    };
  }
  return {
    method: explanation.method,
    outputName: explanation.outputName,
    output: explanation.output,
    baselineOutput: explanation.baselineOutput,
    attributions: explanation.attributions,
    summary: explanation.top,
    completenessGap: explanation.completenessGap,
    completenessFlagged: explanation.completenessFlagged,
    saliency: null,
  };
}
