import type { Resolvers } from '../generated/graphql.ts';
import { notFound } from '../errors/errors.ts';
import { caseEnd, caseStart } from './case.repository.ts';

export const caseResolvers: Resolvers = {
  Query: {
    case: (_, { id }, ctx) => ctx.cases.get(id),
  },
  Mutation: {
    openCase: (_, { input }, ctx) => ctx.cases.open(input),
    closeCase: (_, { id }, ctx) => ctx.cases.close(id),
    addObservations: (_, { caseId, observations }, ctx) => ctx.cases.addObservations(caseId, observations),
    addCaseImage: (_, { caseId, image }, ctx) => ctx.cases.addImage(caseId, image),
  },
  Case: {
    patient: async (episode, _, ctx) => {
      const patient = await ctx.patients.get(episode.patientId);
      if (!patient) throw notFound('The patient of this case is not available.');
      return patient;
    },
    observations: (episode, _, ctx) => ctx.cases.observations(episode),
    images: (episode, _, ctx) => ctx.cases.images(episode),
    startedAt: caseStart,
    endedAt: caseEnd,
  },
};
