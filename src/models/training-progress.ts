/*
 * A training job's progress as stored (the job's `progress` JSON): the step
 * it is at in words (reading, checking the data, training the model or its
 * baseline, evaluating) and, once the networks train, the latest epoch.
 * Jobs stored before steps were recorded hold the epoch fields only.
 */
import { type ProgressEvent, progressPhase, type StageEvent, stageName } from '../pipeline/index.ts';

/** The step a job is at: its name, where in it, and the share done when known. */
export interface JobStep {
  step: string;
  detail: string;
  fraction: number | null;
}

/** The latest epoch of the network being trained. */
export interface EpochProgress {
  phase: string;
  epoch: number;
  epochs: number;
  loss: number;
  validationLoss: number;
  validationMetric: number;
  validationMetricName: string;
}

export type JobProgress = Partial<EpochProgress> & { stage?: JobStep };

/** The progress after an epoch: its figures, and the step "training model" (or baseline, or a fold's); nothing earlier stays. */
export function afterEpoch(event: ProgressEvent): JobProgress {
  const phase = progressPhase(event);
  return {
    phase,
    epoch: event.epoch,
    epochs: event.epochs,
    loss: event.loss,
    validationLoss: event.valLoss,
    validationMetric: event.valMetric,
    validationMetricName: event.valMetricName,
    stage: { step: `training ${phase}`, detail: `epoch ${event.epoch}/${event.epochs}`, fraction: event.epoch / event.epochs },
  };
}

/** The progress when a step around training advances (reading, checking, evaluating); the last epoch's figures stay. */
export function afterStage(progress: JobProgress, event: StageEvent): JobProgress {
  return { ...progress, stage: { step: stageName(event), detail: event.detail, fraction: event.fraction } };
}

/** The stored progress's latest epoch, or null before the first. */
export function epochOf(stored: unknown): EpochProgress | null {
  const progress = stored as JobProgress | null;
  return progress && typeof progress.epoch === 'number' ? (progress as EpochProgress) : null;
}

/** The stored progress's step, or null before the first (or for a job stored before steps were recorded). */
export function stepOf(stored: unknown): JobStep | null {
  return (stored as JobProgress | null)?.stage ?? null;
}

/**
 * Keeps a job's latest progress and writes it: at once when the step
 * changes, else at most every intervalMs; writes go one after another, so
 * an older one never lands last.
 */
export class ProgressWriter {
  private latest: JobProgress = {};
  private writtenStep: string | undefined;
  private writtenAt = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (progress: JobProgress) => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  update(change: (progress: JobProgress) => JobProgress): void {
    this.latest = change(this.latest);
    const step = this.latest.stage?.step;
    if (step === this.writtenStep && Date.now() - this.writtenAt < this.intervalMs) return;
    [this.writtenStep, this.writtenAt] = [step, Date.now()];
    const progress = this.latest;
    this.writing = this.writing.then(() => this.write(progress)).catch(() => {});
  }

  /** Waits for the writes under way; the latest progress, to write with the job's end (none when nothing was reported). */
  async settled(): Promise<{ progress?: JobProgress }> {
    await this.writing;
    return this.latest.stage ? { progress: this.latest } : {};
  }
}
