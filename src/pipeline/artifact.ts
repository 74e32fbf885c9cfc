import { sha256Hex } from './csv.ts';
import { PipelineError } from './errors.ts';
import { tf } from './tensorflow.ts';

/** A trained network in memory: the layers' topology (JSON), the weights' manifest and their bytes. */
export interface ModelArtifact {
  format: 'tfjs-layers';
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  /** Little-endian float32 weights in the order of weightSpecs. */
  weightData: Uint8Array;
}

/**
 * Saves a network to memory with TensorFlow.js's own format.
 * @returns the artifact and the SHA-256 (hex) of its weight bytes
 */
export async function saveModelArtifact(model: tf.LayersModel): Promise<{ artifact: ModelArtifact; weightsSha256: string }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const { modelTopology, weightSpecs, weightData } = saved!;
  const joined = Array.isArray(weightData) ? tf.io.concatenateArrayBuffers(weightData) : weightData!;
  // A copy, so that the artifact owns its bytes whatever TensorFlow.js does with its buffer.
  const bytes = new Uint8Array(joined.slice(0));
  return {
    artifact: { format: 'tfjs-layers', modelTopology: modelTopology as object, weightSpecs: weightSpecs!, weightData: bytes },
    weightsSha256: sha256Hex(bytes),
  };
}

/**
 * Loads a network from an artifact, after checking its weights against their checksum.
 * @param expectedSha256 the SHA-256 recorded when the artifact was saved; skipped when undefined
 * @throws PipelineError BAD_ARTIFACT when the weights do not match it
 */
export async function loadModelArtifact(artifact: ModelArtifact, expectedSha256?: string): Promise<tf.LayersModel> {
  if (expectedSha256 !== undefined && sha256Hex(artifact.weightData) !== expectedSha256) {
    throw new PipelineError('BAD_ARTIFACT', 'The model weights do not match their recorded SHA-256: the artifact is corrupt or was altered.');
  }
  const { buffer, byteOffset, byteLength } = artifact.weightData;
  const weightData = buffer.slice(byteOffset, byteOffset + byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: artifact.modelTopology, weightSpecs: artifact.weightSpecs, weightData }));
}
