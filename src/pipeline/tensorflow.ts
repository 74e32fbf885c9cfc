import * as tf from '@tensorflow/tfjs';

/*
 * The one import of TensorFlow.js for the whole pipeline: every module takes
 * `tf` from here so that models, tensors and backends live in one engine.
 */
export { tf };

export interface TensorflowInfo {
  /** The active backend: `tensorflow` (native, tfjs-node), `wasm` or `cpu`. */
  backend: string;
  tfjsVersion: string;
}

let ready: Promise<TensorflowInfo> | undefined;

/**
 * Chooses the backend once per process: the native `tensorflow` backend when
 * @tensorflow/tfjs-node can be imported, else `wasm`, else `cpu`. Later calls
 * return the first answer.
 * @returns the backend chosen and the TensorFlow.js version
 */
export function initTensorflow(): Promise<TensorflowInfo> {
  ready ??= chooseBackend();
  return ready;
}

async function chooseBackend(): Promise<TensorflowInfo> {
  // Production mode drops debug checks and the console banner that suggests
  // installing tfjs-node, which is optional here by design.
  tf.enableProdMode();
  for (const [backend, load] of backends) {
    if ((await load()) && (await tf.setBackend(backend).catch(() => false))) {
      await tf.ready();
      return { backend, tfjsVersion: tf.version.tfjs };
    }
  }
  throw new Error('No TensorFlow.js backend could be started (not even cpu)');
}

// tfjs-node is an optional dependency; its name sits in a variable so that the
// type checker does not require it to be installed.
const nativeModule = '@tensorflow/tfjs-node';

const backends: [string, () => Promise<boolean>][] = [
  ['tensorflow', () => import(nativeModule).then(() => true, () => false)],
  // The Node build of the wasm backend reads its .wasm files from its own
  // package folder, so nothing is downloaded.
  ['wasm', () => import('@tensorflow/tfjs-backend-wasm').then(() => true, () => false)],
  ['cpu', async () => true],
];
