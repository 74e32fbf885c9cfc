/*
 * Explanations of sequence models away from the caller's event loop: their
 * integrated gradients run a GRU's backward pass over every step of the
 * path (about 2,300 TensorFlow.js kernels, 30 to 40 ms of CPU on `wasm`,
 * 0.1 to 0.4 s of a request thread on a loaded machine), one inseparable
 * call that no chunking shortens. One worker thread, started on first use,
 * computes them with the same code and backend, so the answers are those of
 * explainPrediction.
 */
import type { Worker } from 'node:worker_threads';
import { PipelineError, type PipelineErrorCode } from './errors.ts';
import { type ExplainOptions, explainPrediction, type TabularExplanation } from './explain.ts';
import type { SequenceHistory, ServingModel, StoredModel } from './serving.ts';
import { startTypeScriptWorker } from './worker-thread.ts';
import type { RawValue } from './csv.ts';

/** A request to the worker; the model travels with the first request that names its key. */
export interface ExplanationRequest {
  id: number;
  key: string;
  stored?: StoredModel;
  input: Record<string, RawValue> | SequenceHistory;
  options: ExplainOptions;
}

export type ExplanationReply =
  | { id: number; explanation: TabularExplanation }
  | { id: number; error: { code: PipelineErrorCode | null; message: string; details: Record<string, unknown> } };

interface Pending {
  resolve: (explanation: TabularExplanation) => void;
  reject: (error: Error) => void;
}

let thread: { worker: Worker; sent: Set<string>; pending: Map<number, Pending> } | undefined;
let nextId = 0;

/**
 * Explains a prediction as explainPrediction does: sequence models in the
 * worker thread, tabular models (under a millisecond) here.
 * @throws PipelineError as explainPrediction
 */
export function explainOffThread(serving: ServingModel, input: Record<string, RawValue> | SequenceHistory, options: ExplainOptions = {}): Promise<TabularExplanation> {
  if (!serving.stored.sequence) return Promise.resolve().then(() => explainPrediction(serving, input, options));
  const current = (thread ??= startThread());
  const key = serving.stored.weightsSha256;
  const id = nextId++;
  const request: ExplanationRequest = { id, key, input, options, ...(current.sent.has(key) ? {} : { stored: serving.stored }) };
  current.sent.add(key);
  return new Promise<TabularExplanation>((resolve, reject) => {
    current.pending.set(id, { resolve, reject });
    // Only pending work keeps the process alive, so an idle worker never holds a script or a test open.
    current.worker.ref();
    current.worker.postMessage(request);
  });
}

function startThread(): NonNullable<typeof thread> {
  const worker = startTypeScriptWorker(new URL('./explanation-worker.ts', import.meta.url));
  const started = { worker, sent: new Set<string>(), pending: new Map<number, Pending>() };
  worker.unref();
  worker.on('message', (reply: ExplanationReply) => {
    const waiting = started.pending.get(reply.id);
    started.pending.delete(reply.id);
    if (started.pending.size === 0) worker.unref();
    if ('explanation' in reply) waiting?.resolve(reply.explanation);
    else waiting?.reject(reply.error.code ? new PipelineError(reply.error.code, reply.error.message, reply.error.details) : new Error(`Explanation failed: ${reply.error.message}`));
  });
  // A worker that dies fails what it held; the next request starts a new one.
  const fail = (error: Error) => {
    if (thread === started) thread = undefined;
    for (const waiting of started.pending.values()) waiting.reject(error);
    started.pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`The explanation worker stopped (exit code ${code}).`)));
  return started;
}
