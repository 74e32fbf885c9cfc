/*
 * Trains one model in a worker thread: each training epoch keeps the event
 * loop busy for a while, and the server must keep answering meanwhile.
 * Receives a TrainModelOptions (without callbacks) as workerData; posts
 * progress events (epochs and the steps around them), then the serialized result or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initTensorflow, PipelineError, serializeTrainingResult, trainModel, type TrainModelOptions } from '../pipeline/index.ts';

export type TrainingWorkerMessage =
  | { type: 'progress'; event: import('../pipeline/index.ts').ProgressEvent }
  | { type: 'stage'; event: import('../pipeline/index.ts').StageEvent }
  | { type: 'result'; result: ReturnType<typeof serializeTrainingResult> }
  | { type: 'error'; message: string; userFacing: boolean };

const post = (message: TrainingWorkerMessage) => parentPort!.postMessage(message);

try {
  await initTensorflow();
  const result = await trainModel({
    ...(workerData as TrainModelOptions),
    onProgress: (event) => post({ type: 'progress', event }),
    onStage: (event) => post({ type: 'stage', event }),
  });
  post({ type: 'result', result: serializeTrainingResult(result) });
} catch (error) {
  // Pipeline errors are written for users; anything else is a bug whose text stays in the server log.
  post({ type: 'error', message: (error as Error).message, userFacing: error instanceof PipelineError });
}
