import type { CardText, SerializedTrainingResult, TrainingResult } from '../pipeline/index.ts';
import { serializeTrainingResult } from '../pipeline/index.ts';
import type { ModelTask, ModelVersion } from '../generated/prisma/client.ts';

/*
 * How a trained version lives in the database: the pipeline's serialized
 * training result (JSON) beside its weight bytes, so every replica loads the
 * same artifact from the registry.
 */

/** The registry's task for a pipeline task. */
export const taskOf = (result: Pick<TrainingResult, 'task'>): ModelTask => result.task.toUpperCase() as ModelTask;

/** The columns of a ModelVersion row that come from a training result. */
export function versionColumns(result: TrainingResult, cardText: CardText) {
  const { artifact, ...rest } = serializeTrainingResult(result);
  const { weightDataBase64: _bytes, ...artifactWithoutWeights } = artifact;
  return {
    result: { ...rest, artifact: artifactWithoutWeights } as object,
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

/** The training result of a stored version, weights included. */
export function trainingResultOf(version: Pick<ModelVersion, 'result' | 'weights'>): TrainingResult {
  const stored = version.result as unknown as Omit<SerializedTrainingResult, 'artifact'> & {
    artifact: Omit<TrainingResult['artifact'], 'weightData'>;
  };
  return { ...stored, artifact: { ...stored.artifact, weightData: new Uint8Array(version.weights) } } as TrainingResult;
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
