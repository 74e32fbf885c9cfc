import type { Resolvers } from '../generated/graphql.ts';

export const authResolvers: Resolvers = {
  Query: {
    me: (_, __, ctx) => ctx.principal,
  },
};
