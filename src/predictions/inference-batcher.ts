import { codedError, ErrorCode } from '../errors/errors.ts';

export interface BatchingOptions {
  /** Most rows in one tensor batch. 1 turns batching off. */
  maxBatch: number;
  /** How long the first row of a batch waits for company. */
  maxWaitMs: number;
  /** Most rows waiting; more are refused at once with UNAVAILABLE. */
  maxQueue: number;
}

interface Waiting<T> {
  row: number[];
  resolve(output: T): void;
  reject(error: unknown): void;
}

/**
 * Gathers concurrent inference requests for one model version into tensor
 * batches. A batch starts when it is full, when the first row has waited
 * maxWaitMs, or as soon as the previous batch finishes (rows that arrived
 * meanwhile go together), so throughput grows with concurrency. A failing
 * batch fails only its own rows.
 */
export class InferenceBatcher<T> {
  private waiting: Waiting<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly run: (rows: number[][]) => Promise<T[]>,
    private readonly options: BatchingOptions,
    private readonly onBatch: (size: number, seconds: number) => void = () => {},
  ) {}

  /**
   * Queues one encoded row; resolves with its result from the batch.
   * @throws UNAVAILABLE at once when the queue is full
   */
  infer(row: number[]): Promise<T> {
    if (this.waiting.length >= this.options.maxQueue) {
      return Promise.reject(
        codedError(ErrorCode.UNAVAILABLE, 'The model is busy (its queue is full). Try again shortly.', { retryable: true }),
      );
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when nothing is waiting or running (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.running || this.waiting.length > 0) {
      if (!this.running) this.start();
      await this.running;
    }
  }

  private schedule(): void {
    if (this.running) return; // the running batch starts the next one when it ends
    if (this.waiting.length >= this.options.maxBatch) this.start();
    else this.timer ??= setTimeout(() => this.start(), this.options.maxWaitMs);
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    this.running = this.execute(batch).finally(() => {
      this.running = undefined;
      if (this.waiting.length > 0) this.start();
    });
  }

  private async execute(batch: Waiting<T>[]): Promise<void> {
    const started = performance.now();
    try {
      const outputs = await this.run(batch.map((item) => item.row));
      this.onBatch(batch.length, (performance.now() - started) / 1000);
      batch.forEach((item, i) => item.resolve(outputs[i]!));
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}
