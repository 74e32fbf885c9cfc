import type { Logger } from 'pino';
import { codedError, ErrorCode } from '../errors/errors.ts';
import type { ModelRepository } from '../models/model.repository.ts';
import { trainingResultOf } from '../models/stored-version.ts';
import { initTensorflow, loadServingModel, type ModelInput, type Prediction, type ServingModel } from '../pipeline/index.ts';
import { type BatchingOptions, InferenceBatcher } from './inference-batcher.ts';

/** The figures the model server reports (the server's Prometheus histograms). */
export interface InferenceMetrics {
  inferenceDuration: { observe(labels: { model: string }, seconds: number): void };
  batchSize: { observe(labels: { model: string }, size: number): void };
}

/** A version ready to serve: the model and the batcher in front of it. */
export interface LoadedVersion {
  versionId: string;
  modelName: string;
  serving: ServingModel;
  batcher: InferenceBatcher<Prediction>;
}

/** Rows run through each production version before it counts as warm. */
const warmUpRows = 4;

/**
 * Keeps model versions loaded in this process, one batcher each. Versions are
 * loaded from the registry in the database on first use, so every replica
 * serves exactly the stored artifact (its weights' SHA-256 is checked on load).
 */
export class ModelServer {
  private readonly loaded = new Map<string, Promise<LoadedVersion>>();
  /** Per model name and version asked for ("name@production" when none), whether the version last served for it reads a patient's history. */
  private readonly historyReaders = new Map<string, boolean>();
  private warm = false;

  constructor(
    /** Runs work on the registry in a scope of the server's own (serving reads no patient data). */
    private readonly withRegistry: <T>(work: (registry: ModelRepository) => Promise<T>) => Promise<T>,
    private readonly batching: BatchingOptions,
    private readonly metrics: InferenceMetrics,
    private readonly log: Logger,
  ) {}

  /** True once every production version has been loaded and has run. */
  get ready(): boolean {
    return this.warm;
  }

  /** Loads (once) and returns a version. */
  version(versionId: string): Promise<LoadedVersion> {
    let loading = this.loaded.get(versionId);
    if (!loading) {
      loading = this.load(versionId);
      this.loaded.set(versionId, loading);
      loading.catch(() => this.loaded.delete(versionId));
    }
    return loading;
  }

  /**
   * Whether a prediction with this model (and version) will most likely read
   * the patient's observation history (a sequence model), as the version
   * last served for it did: a guess, so that the case read can bring the
   * right inputs along; the caller checks it against the version resolved.
   */
  readsHistory(model: string, version: number | null): boolean {
    // Names are trimmed when parsed, so a padded name finds the same entry.
    return this.historyReaders.get(historyKey(model.trim(), version)) ?? false;
  }

  /**
   * Records what the version resolved for this model (and version) reads, for
   * the next readsHistory; keyed by the resolved model's name, so the map
   * holds at most one entry per registered model and version asked for.
   */
  noteReadsHistory(model: string, version: number | null, readsHistory: boolean): void {
    this.historyReaders.set(historyKey(model, version), readsHistory);
  }

  /**
   * Loads every production version and runs a few rows through each, so the
   * first real request does not pay for compilation (readiness waits for this).
   */
  async warmUp(): Promise<string[]> {
    await initTensorflow();
    const names: string[] = [];
    for (const id of await this.withRegistry((registry) => registry.productionVersionIds())) {
      const version = await this.version(id);
      const typical = version.serving.encode([typicalInput(version.serving)]).rows[0]!;
      await Promise.all(Array.from({ length: warmUpRows }, () => version.batcher.infer(typical)));
      this.noteReadsHistory(version.modelName, null, version.serving.stored.sequence !== undefined);
      names.push(version.modelName);
    }
    this.warm = true;
    return names;
  }

  /** Finishes every queued prediction (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.loaded.values()].map(async (loading) => (await loading.catch(() => undefined))?.batcher.drain()));
  }

  private async load(versionId: string): Promise<LoadedVersion> {
    await initTensorflow();
    const row = await this.withRegistry((registry) => registry.servable(versionId));
    if (!row) throw codedError(ErrorCode.NOT_FOUND, `No model version with id ${versionId}.`);
    const serving = await loadServingModel(trainingResultOf(row));
    const modelName = row.model.name;
    const batcher = new InferenceBatcher(
      async (rows) => {
        const started = performance.now();
        const outputs = await serving.predictEncoded(rows);
        this.metrics.inferenceDuration.observe({ model: modelName }, (performance.now() - started) / 1000);
        return outputs;
      },
      this.batching,
      (size) => this.metrics.batchSize.observe({ model: modelName }, size),
    );
    this.log.info({ model: modelName, version: row.version }, 'model version loaded');
    return { versionId, modelName, serving, batcher };
  }
}

const historyKey = (model: string, version: number | null) => `${model}@${version ?? 'production'}`;

/** A typical input of a model (its training means or pixel zeros), for warming it up. */
function typicalInput(serving: ServingModel): ModelInput {
  const { stored } = serving;
  if (stored.image) return new Array<number>(stored.image.width * stored.image.height).fill(0);
  const typical = Object.fromEntries(serving.features.map((feature) => [feature.name, feature.typical]));
  return stored.sequence ? { visits: [{ time: 0, values: typical }] } : typical;
}
