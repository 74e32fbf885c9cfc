import type { Resolvers } from '../generated/graphql.ts';
import { canonicalAuditRecord, entitiesOf } from '../audit/audit-record.ts';
import { leafHash } from '../audit/merkle.ts';

const base64 = (hashes: Buffer[]) => hashes.map((hash) => hash.toString('base64'));

export const auditResolvers: Resolvers = {
  Query: {
    auditEvents: (_, { filter, first, after }, ctx) => ctx.audit.events(filter, first, after),
    verifyAuditChain: async (_, __, ctx) => {
      const result = await ctx.audit.verify();
      return { ...result, firstInvalidSequence: result.firstInvalidSequence?.toString() ?? null, treeSize: result.treeSize.toString() };
    },
    auditCheckpoint: (_, __, ctx) => ctx.audit.checkpoint(),
    auditInclusionProof: async (_, { eventId, treeSize }, ctx) => {
      const proof = await ctx.audit.inclusionProof(eventId, treeSize);
      return {
        ...proof,
        leafIndex: proof.leafIndex.toString(),
        treeSize: proof.treeSize.toString(),
        leafHash: proof.leafHash.toString('base64'),
        hashes: base64(proof.hashes),
      };
    },
    auditConsistencyProof: async (_, { fromSize, toSize }, ctx) => {
      const proof = await ctx.audit.consistencyProof(fromSize, toSize);
      return { ...proof, fromSize: proof.fromSize.toString(), toSize: proof.toSize.toString(), hashes: base64(proof.hashes) };
    },
    exportAuditEvents: (_, { filter, first, after }, ctx) => ctx.audit.export(filter, first, after),
  },
  AuditEvent: {
    sequence: (event) => event.sequence.toString(),
    leafHash: (event) => leafHash(canonicalAuditRecord(event)).toString('hex'),
    entities: (event) => entitiesOf(event),
  },
  AuditEventConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
};
