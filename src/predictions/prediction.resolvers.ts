import { notFound } from '../errors/errors.ts';
import type { Resolvers } from '../generated/graphql.ts';
import { explanationView } from './explanation.ts';
import { explanationOf, flagsOf, inputOf, labelOf, outputOf, valueOf } from './stored-prediction.ts';

export const predictionResolvers: Resolvers = {
  Query: {
    prediction: (_, { id }, ctx) => ctx.predictions.get(id),
    modelPerformance: (_, { model, version, from, to }, ctx) => ctx.predictions.performance(model, version, from, to),
  },
  Mutation: {
    predict: (_, { caseId, model, version, explain }, ctx) => ctx.predictions.predict(caseId, model, version, explain ?? true),
    predictCohort: (_, { caseIds, model, version, explain }, ctx) => ctx.predictions.predictCohort(caseIds, model, version, explain ?? false),
    explainPrediction: (_, { id }, ctx) => ctx.predictions.explainStored(id),
    reviewPrediction: (_, { id, decision, note }, ctx) => ctx.predictions.review(id, decision, note),
    recordOutcome: (_, { caseId, outcome }, ctx) => ctx.predictions.recordOutcome(caseId, outcome),
  },
  Case: {
    predictions: (episode, _, ctx) => ctx.predictions.forCase(episode),
    outcomes: (episode, _, ctx) => ctx.predictions.outcomes(episode),
  },
  Prediction: {
    case: async (prediction, _, ctx) => (await ctx.cases.get(prediction.caseId)) ?? Promise.reject(notFound('Case not found.')),
    modelVersion: async (prediction, _, ctx) => (await ctx.models.version(prediction.modelVersionId)) ?? Promise.reject(notFound('Model version not found.')),
    modelName: async (prediction, _, ctx) => {
      const version = await ctx.models.version(prediction.modelVersionId);
      return (version && (await ctx.models.byId(version.modelId))?.name) ?? 'unknown';
    },
    input: async (prediction, _, ctx) => inputOf(await ctx.predictions.whole(prediction)),
    label: (prediction) => labelOf(outputOf(prediction)),
    probabilities: (prediction) => {
      const output = outputOf(prediction);
      return 'probabilities' in output ? Object.entries(output.probabilities).map(([label, probability]) => ({ label, probability })) : null;
    },
    value: (prediction) => valueOf(outputOf(prediction)),
    conformal: (prediction) => outputOf(prediction).conformal ?? null,
    outcomeLabel: (prediction) => outputOf(prediction).outcomeLabel,
    threshold: (prediction) => outputOf(prediction).threshold,
    outOfDistribution: (prediction) => flagsOf(prediction).outOfDistribution,
    warnings: (prediction) => flagsOf(prediction).warnings,
    outOfDistributionScore: (prediction) => flagsOf(prediction).outOfDistributionScore ?? null,
    explanation: async (prediction, _, ctx) => {
      const explanation = explanationOf(await ctx.predictions.whole(prediction));
      return explanation ? explanationView(explanation) : null;
    },
    review: (prediction) =>
      prediction.reviewDecision
        ? { decision: prediction.reviewDecision, note: prediction.reviewNote, reviewedBy: prediction.reviewedBy!, reviewedAt: prediction.reviewedAt! }
        : null,
  },
};
