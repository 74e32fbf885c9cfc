import { purposeOfUseFor } from '../access/permissions.ts';
import type { Resolvers } from '../generated/graphql.ts';

export const authResolvers: Resolvers = {
  Query: {
    me: (_, __, ctx) => ctx.principal,
  },
  Principal: {
    purposeOfUse: (principal) => purposeOfUseFor(principal, null),
  },
};
