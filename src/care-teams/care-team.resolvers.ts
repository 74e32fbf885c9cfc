import type { Resolvers } from '../generated/graphql.ts';

export const careTeamResolvers: Resolvers = {
  Query: {
    breakGlassGrants: (_, { from, to, clinicianSubject, first, after }, ctx) =>
      ctx.careTeams.grants({ from, to, clinicianSubject }, first, after),
  },
  Mutation: {
    addCareTeamMember: (_, { patientId, clinicianSubject }, ctx) => ctx.careTeams.addMember(patientId, clinicianSubject),
    removeCareTeamMember: (_, { patientId, clinicianSubject }, ctx) => ctx.careTeams.removeMember(patientId, clinicianSubject),
    openBreakGlass: (_, { patientId, reason }, ctx) => ctx.careTeams.openBreakGlass(patientId, reason),
  },
  Patient: {
    careTeam: (patient, _, ctx) => ctx.careTeams.members(patient.id),
  },
  BreakGlassGrant: {
    active: (grant) => grant.expiresAt.getTime() > Date.now(),
  },
  BreakGlassGrantConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
};
