import { badInput } from '../errors/errors.ts';
import type { CaseImage, Observation } from '../cases/case.repository.ts';
import type { FeatureInfo, StoredModel, Visit } from '../pipeline/index.ts';

/** A model's input built from a case, with what is unusual about it. */
export interface CaseInput {
  /** Values by feature name, or an image's pixels (row-major): the exact snapshot stored with the prediction. */
  values: Record<string, number | string> | number[];
  /** Features whose value lies outside the range the model was trained on (possible, but unfamiliar to it). */
  outOfDistribution: string[];
  /** Sequence models: the patient's visits in time order (`values` is the latest one's). */
  history?: Visit[];
}

/**
 * Builds a model's input from a case: for each feature the latest
 * observation with its code (or the case's image of the model's size),
 * checked against what the model expects. Values of the wrong unit or type,
 * physiologically impossible values, missing features and images of the
 * wrong size are refused (BAD_USER_INPUT, naming them); values that are
 * possible but outside the training range are used and flagged.
 */
export function buildCaseInput(model: Pick<StoredModel, 'features' | 'image' | 'sequence'>, observations: Observation[], images: CaseImage[]): CaseInput {
  if (model.sequence) return historyInput(model.features, observations);
  return model.image ? imageInput(model.image, model.features[0]?.possibleRange ?? null, images) : tabularInput(model.features, observations);
}

function tabularInput(features: FeatureInfo[], observations: Observation[]): CaseInput {
  const latest = new Map<string, Observation>();
  for (const observation of observations) {
    const seen = latest.get(observation.code);
    if (!seen || seen.observedAt <= observation.observedAt) latest.set(observation.code, observation);
  }
  const missing = features.filter((feature) => !latest.has(feature.name)).map((feature) => feature.name);
  if (missing.length > 0) {
    throw badInput(`The case lacks observations the model needs: ${missing.join(', ')}.`, { reason: 'missing-features', missingFeatures: missing });
  }
  const values: Record<string, number | string> = {};
  const outOfDistribution: string[] = [];
  for (const feature of features) {
    const observation = latest.get(feature.name)!;
    values[feature.name] = checkedValue(feature, observation);
    const value = values[feature.name];
    const range = feature.trainingRange;
    if (typeof value === 'number' && range && (value < range.min || value > range.max)) outOfDistribution.push(feature.name);
  }
  return { values, outOfDistribution };
}

const dayMs = 86_400_000;

/**
 * A sequence model's input from a patient's observations: one visit per
 * calendar day (UTC) with observations the model uses, its time in days since
 * the first; a feature not measured that day is missing (the model sees a
 * missing indicator). Each value is checked as for a tabular model.
 */
function historyInput(features: FeatureInfo[], observations: Observation[]): CaseInput {
  const byName = new Map(features.map((feature) => [feature.name, feature]));
  const visits = new Map<number, Record<string, number | string>>();
  for (const observation of observations) {
    const feature = byName.get(observation.code);
    if (!feature) continue;
    const day = Math.floor(observation.observedAt.getTime() / dayMs);
    const values = visits.get(day) ?? {};
    values[feature.name] = checkedValue(feature, observation);
    visits.set(day, values);
  }
  const days = [...visits.keys()].sort((a, b) => a - b);
  if (days.length === 0) {
    const names = features.map((feature) => feature.name);
    throw badInput(`The patient has no observation this model uses (${names.join(', ')}).`, { reason: 'missing-features', missingFeatures: names });
  }
  const history = days.map((day) => ({ time: day - days[0]!, values: visits.get(day)! }));
  const latest = history.at(-1)!.values;
  const outOfDistribution = features
    .filter((feature) => {
      const value = latest[feature.name];
      return typeof value === 'number' && feature.trainingRange !== null && (value < feature.trainingRange.min || value > feature.trainingRange.max);
    })
    .map((feature) => feature.name);
  return { values: latest, outOfDistribution, history };
}

function checkedValue(feature: FeatureInfo, observation: Observation): number | string {
  const details = { feature: feature.name };
  if (feature.unit !== null && observation.unit !== feature.unit) {
    throw badInput(
      `${feature.name} must be recorded in ${feature.unit}; the case has it ${observation.unit ? `in ${observation.unit}` : 'without a unit'}.`,
      { ...details, reason: 'wrong-unit', expectedUnit: feature.unit, unit: observation.unit },
    );
  }
  if (feature.kind === 'numeric') {
    if (observation.value === null) {
      throw badInput(`${feature.name} must be a number (value); the case has text.`, { ...details, reason: 'wrong-type', expected: 'value' });
    }
    const possible = feature.possibleRange;
    if (possible && (observation.value < possible.min || observation.value > possible.max)) {
      throw badInput(
        `${feature.name} = ${observation.value} is not physiologically possible (${possible.min} to ${possible.max}${feature.unit ? ` ${feature.unit}` : ''}); check the observation.`,
        { ...details, reason: 'impossible-value', possibleMin: possible.min, possibleMax: possible.max },
      );
    }
    return observation.value;
  }
  if (observation.text === null) {
    throw badInput(`${feature.name} must be text (one of ${feature.levels?.join(', ')}); the case has a number.`, { ...details, reason: 'wrong-type', expected: 'text' });
  }
  return observation.text;
}

function imageInput(size: { width: number; height: number }, possible: FeatureInfo['possibleRange'], images: CaseImage[]): CaseInput {
  const fitting = images.filter((image) => image.width === size.width && image.height === size.height).at(-1);
  if (!fitting) {
    const sizes = images.map((image) => `${image.width}x${image.height}`);
    throw badInput(
      `The model needs a ${size.width}x${size.height} image; the case has ${sizes.length ? sizes.join(', ') : 'none'}.`,
      { reason: 'wrong-image-size', width: size.width, height: size.height },
    );
  }
  if (possible && fitting.pixels.some((pixel) => pixel < possible.min || pixel > possible.max)) {
    throw badInput(`The image has pixel values outside ${possible.min} to ${possible.max}, which this model's scanner cannot produce.`, {
      reason: 'impossible-value',
      possibleMin: possible.min,
      possibleMax: possible.max,
    });
  }
  return { values: fitting.pixels, outOfDistribution: [] };
}
