import type { ModelTask } from '../generated/graphql.ts';
import type { CardText, ModelArtifact, SerializedTrainingResult, TrainingResult } from '../pipeline/index.ts';
import { serializeTrainingResult } from '../pipeline/index.ts';

/*
 * The one codec of ModelVersion's JSON columns: the pipeline's training
 * result without its weight bytes (`result`, JSON) beside the bytes
 * (`weights`), so every replica loads the same artifact from the registry,
 * and the card's text (`cardText`).
 */

/** What `ModelVersion.result` holds: a training result whose artifact has no weights (they are in `weights`). */
export type StoredTrainingResult = Omit<TrainingResult, 'artifact'> & { artifact: Omit<ModelArtifact, 'weightData'> };

/** The registry's task for a pipeline task. */
export const taskOf = (result: Pick<TrainingResult, 'task'>): ModelTask => result.task.toUpperCase() as ModelTask;

/** The columns of a ModelVersion row that come from a training result. */
export function versionColumns(result: TrainingResult, cardText: CardText) {
  const { artifact, ...rest } = serializeTrainingResult(result);
  const { weightDataBase64: _bytes, ...artifactWithoutWeights } = artifact;
  const stored: Omit<SerializedTrainingResult, 'artifact'> & { artifact: StoredTrainingResult['artifact'] } = { ...rest, artifact: artifactWithoutWeights };
  return {
    result: stored as object,
    weights: Buffer.from(result.artifact.weightData),
    weightsSha256: result.weightsSha256,
    datasetSha256: result.datasetSha256,
    cardText: cardText as object,
    tfjsVersion: result.training.tfjsVersion,
    backend: result.training.backend,
    seed: result.training.seed,
    trainedAt: new Date(result.trainedAt),
  };
}

/** The stored training result of a version (what its card, features and metrics come from); it holds no weights. */
export function storedResultOf(version: { result: unknown }): StoredTrainingResult {
  return version.result as StoredTrainingResult;
}

/** The card text a version was stored with. */
export function cardTextOf(version: { cardText: unknown }): CardText {
  return version.cardText as CardText;
}

/** The whole training result of a stored version, weights included (what serving loads). */
export function trainingResultOf(version: { result: unknown; weights: Uint8Array }): TrainingResult {
  const stored = storedResultOf(version);
  return { ...stored, artifact: { ...stored.artifact, weightData: new Uint8Array(version.weights) } };
}

/** Card text for a model trained without one: plain statements of what is not known. */
export function placeholderCardText(name: string, description: string, source: string): CardText {
  return {
    title: name,
    intendedUse: description || 'Not stated by the person who trained this version.',
    intendedUsers: 'Not stated.',
    outOfScope: ['Any use not validated for the population and setting the training data came from.'],
    outcomeDefinition: 'Not stated: see the target column of the training data.',
    dataSource: source,
    population: 'Not stated.',
    limitations: ['Trained through the platform without a written card: review before clinical use.'],
    ethicalConsiderations: ['Explanations show which inputs moved the output; they are not causes.'],
  };
}
