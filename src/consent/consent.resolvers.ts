import type { Resolvers } from '../generated/graphql.ts';

export const consentResolvers: Resolvers = {
  Mutation: {
    recordAiConsent: (_, { patientId, status, note }, ctx) => ctx.consent.record(patientId, status, note),
  },
  Patient: {
    consentHistory: (patient, _, ctx) => ctx.consent.history(patient.id),
  },
};
