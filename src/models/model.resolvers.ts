import { notFound } from '../errors/errors.ts';
import type { Resolvers } from '../generated/graphql.ts';
import { storedResultOf as resultOf } from './stored-version.ts';
import { epochOf, stepOf } from './training-progress.ts';

export const modelResolvers: Resolvers = {
  Query: {
    models: (_, __, ctx) => ctx.models.list(),
    model: (_, { name }, ctx) => ctx.models.get(name),
    modelVersion: (_, { id }, ctx) => ctx.models.version(id),
    trainingJob: (_, { id }, ctx) => ctx.models.job(id),
    trainingJobs: (_, { status, first, after }, ctx) => ctx.models.jobs(status, first, after),
    modelRuntime: (_, __, ctx) => ctx.models.runtime(),
  },
  Mutation: {
    trainModel: (_, { input }, ctx) => ctx.models.train(input),
    promoteModelVersion: (_, { id, comment }, ctx) => ctx.models.promote(id, comment),
  },
  Model: {
    versions: (model, _, ctx) => ctx.models.versions(model),
    productionVersion: (model, _, ctx) => ctx.models.productionVersion(model),
  },
  ModelVersion: {
    model: async (version, _, ctx) => (await ctx.models.byId(version.modelId)) ?? Promise.reject(notFound('Model not found.')),
    features: (version) => resultOf(version).features,
    imageWidth: (version) => resultOf(version).image?.width ?? null,
    imageHeight: (version) => resultOf(version).image?.height ?? null,
    classLabels: (version) => resultOf(version).classLabels,
    positiveClass: (version) => resultOf(version).positiveClass,
    threshold: (version) => resultOf(version).threshold,
    metrics: (version) => resultOf(version).evaluation,
    dataQuality: (version) => resultOf(version).quality,
    card: (version, _, ctx) => ctx.models.card(version),
    trainingParameters: (version) => {
      const { training, architecture, split } = resultOf(version);
      return { architecture, settings: training.settings, baselineSettings: training.baselineSettings, split: split.fractions, epochsRun: training.epochsRun, bestEpoch: training.bestEpoch };
    },
  },
  ModelFeature: {
    trainingMin: (feature) => feature.trainingRange?.min ?? null,
    trainingMax: (feature) => feature.trainingRange?.max ?? null,
    possibleMin: (feature) => feature.possibleRange?.min ?? null,
    possibleMax: (feature) => feature.possibleRange?.max ?? null,
  },
  TrainingJobConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
  TrainingJob: {
    modelVersion: (job, _, ctx) => (job.modelVersionId ? ctx.models.version(job.modelVersionId) : null),
    stage: (job) => stepOf(job.progress),
    progress: (job) => epochOf(job.progress),
  },
};
