import DataLoader from 'dataloader';
import type { Scope } from '../access/scope.ts';
import { conflict } from '../errors/errors.ts';
import { type Model, type ModelVersion, Prisma, type TrainingJob, type TrainingJobStatus } from '../generated/prisma/client.ts';
import { afterPositionNewestFirst, type Connection, encodeCursor, type KeysetPosition, toConnection } from '../graphql/paging.ts';
import type { CardText, TrainingResult } from '../pipeline/index.ts';
import { taskOf, versionColumns } from './stored-version.ts';

export type { Model, TrainingJob };

/** Which version a name and number (or the production stage) name, and its stage. */
export type VersionRef = Pick<ModelVersion, 'id' | 'version' | 'stage'>;

/** A version without its weight bytes, for listing and describing (the bytes are only read to serve). */
export type ModelVersionSummary = Omit<ModelVersion, 'weights'>;

const withoutWeights = { weights: true } as const;

/** SQL of a version ref for a statement to select (versionRefSql). */
export type VersionRefColumn = Prisma.Sql;

/** A version ref as versionRefSql selects it (null: no such version). */
export function decodeVersionRef(selected: unknown): VersionRef | null {
  if (selected === null) return null;
  const [id, version, stage] = selected as [string, number, VersionRef['stage']];
  return { id, version, stage };
}

/**
 * The model registry as one request may read and change it: anyone signed in
 * reads it (it holds no patient data); data scientists and admins train and
 * promote, and those changes are audited.
 */
export class ModelRepository {
  private readonly modelById: DataLoader<string, Model | null>;
  private readonly versionsByModel: DataLoader<string, ModelVersionSummary[]>;
  private readonly versionById: DataLoader<string, ModelVersionSummary | null>;

  constructor(private readonly scope: Scope) {
    const { prisma } = scope;
    this.modelById = new DataLoader(async (ids) => {
      const rows = await prisma.model.findMany({ where: { id: { in: [...ids] } } });
      return ids.map((id) => rows.find((row) => row.id === id) ?? null);
    });
    this.versionsByModel = new DataLoader(async (modelIds) => {
      const rows = await prisma.modelVersion.findMany({
        where: { modelId: { in: [...modelIds] } },
        omit: withoutWeights,
        orderBy: { version: 'desc' },
      });
      for (const row of rows) this.versionById.prime(row.id, row);
      return modelIds.map((id) => rows.filter((row) => row.modelId === id));
    });
    this.versionById = new DataLoader(async (ids) => {
      const rows = await prisma.modelVersion.findMany({ where: { id: { in: [...ids] } }, omit: withoutWeights });
      return ids.map((id) => rows.find((row) => row.id === id) ?? null);
    });
  }

  list(): Promise<Model[]> {
    this.scope.access.require('model.read', 'model.read');
    return this.scope.prisma.model.findMany({ orderBy: { name: 'asc' } });
  }

  findByName(name: string): Promise<Model | null> {
    this.scope.access.require('model.read', 'model.read');
    return this.scope.prisma.model.findUnique({ where: { name } });
  }

  findById(id: string): Promise<Model | null> {
    this.scope.access.require('model.read', 'model.read');
    return this.modelById.load(id);
  }

  versions(modelId: string): Promise<ModelVersionSummary[]> {
    this.scope.access.require('model.read', 'model.read');
    return this.versionsByModel.load(modelId);
  }

  findVersion(id: string): Promise<ModelVersionSummary | null> {
    this.scope.access.require('model.read', 'model.read');
    return this.versionById.load(id);
  }

  /**
   * A version by its model's name, in one statement: the given number, or
   * the production version; null when there is no such version (or model).
   * Its id, number and stage only: the stored result is large, and serving
   * has it in memory already.
   */
  async findVersionRef(name: string, versionNumber: number | null): Promise<VersionRef | null> {
    const [row] = await this.scope.prisma.$queryRaw<{ ref: unknown }[]>`SELECT ${this.versionRefSql(name, versionNumber)} AS ref`;
    return decodeVersionRef(row!.ref);
  }

  /**
   * findVersionRef's lookup as SQL, for it or another statement to select
   * (a prediction's read of its case: one round trip less): the version as
   * a JSON array [id, version, stage], or NULL; decodeVersionRef reads it.
   */
  versionRefSql(name: string, versionNumber: number | null): VersionRefColumn {
    this.scope.access.require('model.read', 'model.read');
    const which = versionNumber === null ? Prisma.sql`v.stage = 'PRODUCTION'` : Prisma.sql`v.version = ${versionNumber}::int`;
    return Prisma.sql`(SELECT json_build_array(v.id, v.version, v.stage::text) FROM "ModelVersion" v JOIN "Model" m ON m.id = v."modelId" WHERE m.name = ${name} AND ${which})`;
  }

  async findVersionByNumber(modelId: string, version: number): Promise<ModelVersionSummary | null> {
    this.scope.access.require('model.read', 'model.read');
    return (await this.versionsByModel.load(modelId)).find((row) => row.version === version) ?? null;
  }

  /** The weight bytes of a version (read only to serve or evaluate it). */
  async findWeights(id: string): Promise<ModelVersion['weights'] | null> {
    this.scope.access.require('model.read', 'model.read');
    const row = await this.scope.prisma.modelVersion.findUnique({ where: { id }, select: { weights: true } });
    return row?.weights ?? null;
  }

  /**
   * Adds a trained version as the next version of the named model (made when
   * it does not exist yet), as a CANDIDATE, or as PRODUCTION when asked (the
   * shipped defaults).
   * @throws CONFLICT when the name belongs to a model of another task or target
   */
  addVersion(
    model: { name: string; description: string },
    result: TrainingResult,
    cardText: CardText,
    production?: { comment: string },
  ): Promise<ModelVersionSummary> {
    const subject = this.scope.access.subject;
    return this.scope.records.write(
      { permission: 'model.train', action: 'model.train', resourceType: 'ModelVersion' },
      [],
      async (tx) => {
        const existing = await tx.model.upsert({
          where: { name: model.name },
          create: { name: model.name, description: model.description, task: taskOf(result), target: result.target },
          update: {},
        });
        if (existing.task !== taskOf(result) || existing.target !== result.target) {
          throw conflict(`The model ${model.name} predicts ${existing.target} (${existing.task}); train under another name.`, { field: 'input.name' });
        }
        // Versions are numbered under a lock on the model, so two trainings cannot take the same number.
        await tx.$queryRaw`SELECT id FROM "Model" WHERE id = ${existing.id}::uuid FOR UPDATE`;
        const latest = await tx.modelVersion.findFirst({ where: { modelId: existing.id }, orderBy: { version: 'desc' }, select: { version: true } });
        return tx.modelVersion.create({
          data: {
            modelId: existing.id,
            version: (latest?.version ?? 0) + 1,
            trainedBy: subject,
            ...versionColumns(result, cardText),
            ...(production ? { stage: 'PRODUCTION', promotedBy: subject, promotedAt: new Date(), promotionComment: production.comment } : {}),
          },
          omit: withoutWeights,
        });
      },
      (version) => ({ resourceIds: [version.id] }),
    );
  }

  /** Makes a version its model's only production version; the previous one is archived. */
  promote(version: ModelVersionSummary, comment: string): Promise<ModelVersionSummary> {
    this.versionsByModel.clear(version.modelId);
    this.versionById.clear(version.id);
    return this.scope.records.write(
      { permission: 'model.promote', action: 'model.promote', resourceType: 'ModelVersion' },
      [],
      async (tx) => {
        await tx.$queryRaw`SELECT id FROM "Model" WHERE id = ${version.modelId}::uuid FOR UPDATE`;
        await tx.modelVersion.updateMany({ where: { modelId: version.modelId, stage: 'PRODUCTION' }, data: { stage: 'ARCHIVED' } });
        return tx.modelVersion.update({
          where: { id: version.id },
          data: { stage: 'PRODUCTION', promotedBy: this.scope.access.subject, promotedAt: new Date(), promotionComment: comment },
          omit: withoutWeights,
        });
      },
      (promoted) => ({ resourceIds: [promoted.id] }),
    );
  }

  createJob(modelName: string, options: object): Promise<TrainingJob> {
    this.scope.access.require('model.train', 'model.train');
    return this.scope.prisma.trainingJob.create({ data: { modelName, options, requestedBy: this.scope.access.subject } });
  }

  /** A job, for whoever may train (jobs name data sources, so not everyone sees them). */
  findJob(id: string): Promise<TrainingJob | null> {
    this.scope.access.require('model.train', 'model.train');
    return this.scope.prisma.trainingJob.findUnique({ where: { id } });
  }

  /** Training jobs, newest first, for whoever may train (the same reach as one job). */
  async listJobs(filter: { status?: TrainingJobStatus }, first: number, after?: KeysetPosition): Promise<Connection<TrainingJob>> {
    this.scope.access.require('model.train', 'model.train');
    const where: Prisma.TrainingJobWhereInput = filter.status ? { status: filter.status } : {};
    const rows = await this.scope.prisma.trainingJob.findMany({
      where: { AND: [where, afterPositionNewestFirst(after, 'createdAt')] },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: first + 1,
    });
    return toConnection(rows, first, after !== undefined, () => this.scope.prisma.trainingJob.count({ where }), (row) =>
      encodeCursor({ time: row.createdAt, id: row.id }),
    );
  }

  /** Records where a job is: started, its progress, its end (the training runner's bookkeeping). */
  async updateJob(id: string, change: JobChange): Promise<void> {
    this.scope.access.require('model.train', 'model.train');
    await this.scope.prisma.trainingJob.update({ where: { id }, data: change });
  }

  /** The ids of the production versions (the model server warms them up). */
  async productionVersionIds(): Promise<string[]> {
    this.scope.access.require('model.read', 'model.read');
    return (await this.scope.prisma.modelVersion.findMany({ where: { stage: 'PRODUCTION' }, select: { id: true } })).map((row) => row.id);
  }

  /** A version with its weight bytes and its model's name, for serving. */
  servable(id: string): Promise<(ModelVersion & { model: { name: string } }) | null> {
    this.scope.access.require('model.read', 'model.read');
    return this.scope.prisma.modelVersion.findUnique({ where: { id }, include: { model: { select: { name: true } } } });
  }
}

/** A change of a training job's state. */
export type JobChange = Pick<Prisma.TrainingJobUpdateInput, 'status' | 'startedAt' | 'finishedAt' | 'error' | 'modelVersionId'> & { progress?: object };
