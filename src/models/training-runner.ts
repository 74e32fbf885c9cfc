import { runAsSystem, type ScopeDeps } from '../access/scope.ts';
import { deserializeTrainingResult, type CardText, startTypeScriptWorker, type TrainModelOptions } from '../pipeline/index.ts';
import { type JobChange, ModelRepository } from './model.repository.ts';
import type { TrainingWorkerMessage } from './training-worker.ts';
import { afterEpoch, afterStage, type JobProgress, ProgressWriter } from './training-progress.ts';

export interface TrainingRequest {
  jobId: string;
  model: { name: string; description: string };
  options: Omit<TrainModelOptions, 'onProgress'>;
  cardText: CardText;
  /** Who asked: the version is recorded as trained by them. */
  requestedBy: string;
}

/**
 * Runs training jobs one at a time, each in a worker thread, writing progress
 * to the job row (every replica can report it) and, at the end, the version
 * to the registry or the failure to the job.
 */
/** Progress within one step is written to the job at most this often; a new step is written at once. */
const progressIntervalMs = 500;

export class TrainingRunner {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ScopeDeps) {}

  submit(request: TrainingRequest): void {
    this.queue = this.queue.then(() => this.run(request)).catch((error) => {
      this.deps.log.error({ jobId: request.jobId, errorType: (error as Error).name }, 'training job bookkeeping failed');
    });
  }

  /** Resolves when every submitted job has finished. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** The job's bookkeeping and the version are written under the requester's name, with the same checks and audit as any write. */
  private run(request: TrainingRequest): Promise<void> {
    return runAsSystem(this.deps, request.requestedBy, ['data_scientist'], (scope) => this.runIn(new ModelRepository(scope), request));
  }

  private async runIn(registry: ModelRepository, request: TrainingRequest): Promise<void> {
    const job = (change: JobChange) => registry.updateJob(request.jobId, change);
    await job({ status: 'RUNNING', startedAt: new Date() });
    const progress = new ProgressWriter((latest) => job({ progress: latest }), progressIntervalMs);
    const outcome = await this.train(request.options, (update) => progress.update(update));
    // The last step and epoch are written with the end, whatever the interval held back.
    const progressAtEnd = await progress.settled();
    if ('error' in outcome) {
      await job({ status: 'FAILED', error: outcome.error, finishedAt: new Date(), ...progressAtEnd });
      return;
    }
    const version = await registry.addVersion(request.model, outcome.result, request.cardText).catch((error: Error) => error);
    if (version instanceof Error) {
      const message = (version as { extensions?: { code?: string } }).extensions?.code ? version.message : 'The trained version could not be stored.';
      await job({ status: 'FAILED', error: message, finishedAt: new Date(), ...progressAtEnd });
      return;
    }
    await job({ status: 'SUCCEEDED', modelVersionId: version.id, finishedAt: new Date(), ...progressAtEnd });
  }

  /** Trains in a worker; resolves with the result or an error text for the user. */
  private train(options: Omit<TrainModelOptions, 'onProgress'>, report: (update: (progress: JobProgress) => JobProgress) => void) {
    return new Promise<{ result: ReturnType<typeof deserializeTrainingResult> } | { error: string }>((resolve) => {
      const worker = startTypeScriptWorker(new URL('./training-worker.ts', import.meta.url), { workerData: options });
      let settled = false;
      const finish = (value: { result: ReturnType<typeof deserializeTrainingResult> } | { error: string }) => {
        settled = true;
        resolve(value);
      };
      worker.on('message', (message: TrainingWorkerMessage) => {
        if (message.type === 'progress') report(() => afterEpoch(message.event));
        else if (message.type === 'stage') report((progress) => afterStage(progress, message.event));
        else if (message.type === 'result') {
          finish({ result: deserializeTrainingResult(message.result) });
        } else if (message.type === 'error') {
          if (!message.userFacing) this.deps.log.error({ message: message.message }, 'training failed unexpectedly');
          finish({ error: message.userFacing ? message.message : 'Training failed unexpectedly; the server log has the details.' });
        }
      });
      worker.on('error', (error) => {
        this.deps.log.error({ errorType: error.name }, 'training worker crashed');
        if (!settled) finish({ error: 'Training failed unexpectedly; the server log has the details.' });
      });
      worker.on('exit', () => {
        if (!settled) finish({ error: 'Training stopped before it finished.' });
      });
    });
  }
}
