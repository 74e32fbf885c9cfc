import type { Resolvers } from '../generated/graphql.ts';

export const auditResolvers: Resolvers = {
  Query: {
    auditEvents: (_, { filter, first, after }, ctx) => ctx.audit.events(filter, first, after),
    verifyAuditChain: async (_, __, ctx) => {
      const result = await ctx.audit.verify();
      return { ...result, firstInvalidSequence: result.firstInvalidSequence?.toString() ?? null };
    },
    exportAuditEvents: (_, { filter, first, after }, ctx) => ctx.audit.export(filter, first, after),
  },
  AuditEvent: {
    sequence: (event) => event.sequence.toString(),
  },
  AuditEventConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
};
