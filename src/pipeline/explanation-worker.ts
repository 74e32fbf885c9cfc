/*
 * Explains predictions in a worker thread (see explain-off-thread.ts): the
 * integrated gradients of a sequence model hold the thread for tens of
 * milliseconds of CPU, hundreds on a loaded machine. Each served model is
 * sent once and kept, by the SHA-256 of its weights.
 */
import { parentPort } from 'node:worker_threads';
import { PipelineError } from './errors.ts';
import { explainPrediction } from './explain.ts';
import type { ExplanationReply, ExplanationRequest } from './explain-off-thread.ts';
import { loadServingModel, type ServingModel } from './serving.ts';
import { initTensorflow } from './tensorflow.ts';

const models = new Map<string, Promise<ServingModel>>();
const ready = initTensorflow();
const post = (reply: ExplanationReply) => parentPort!.postMessage(reply);

parentPort!.on('message', async (request: ExplanationRequest) => {
  try {
    await ready;
    if (request.stored) models.set(request.key, loadServingModel(request.stored));
    const serving = await models.get(request.key)!;
    post({ id: request.id, explanation: explainPrediction(serving, request.input, request.options) });
  } catch (error) {
    const failure = error as Error;
    post({ id: request.id, error: error instanceof PipelineError ? { code: error.code, message: error.message, details: error.details } : { code: null, message: failure.message, details: {} } });
  }
});
