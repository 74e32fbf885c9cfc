import type { PrismaClient } from '../generated/prisma/client.ts';
import { genesisHash, hashAuditRecord } from './audit-record.ts';

export type ChainProblem = 'content-altered' | 'link-broken' | 'sequence-gap';

export interface ChainVerification {
  intact: boolean;
  checkedCount: number;
  totalCount: number;
  firstInvalidSequence: bigint | null;
  problem: ChainProblem | null;
  headHash: string | null;
}

/**
 * Walks the audit chain from the first record: each record must sit at the
 * next sequence number, link to the hash of the one before, and hash to its
 * stored hash. Reports the first record that fails, or that all are intact.
 */
export async function verifyAuditChain(prisma: PrismaClient, batchSize = 2000): Promise<ChainVerification> {
  const totalCount = await prisma.auditEvent.count();
  let checkedCount = 0;
  let expectedSequence = 1n;
  let previousHash = genesisHash;
  const broken = (sequence: bigint, problem: ChainProblem): ChainVerification => ({
    intact: false,
    checkedCount,
    totalCount,
    firstInvalidSequence: sequence,
    problem,
    headHash: null,
  });
  for (;;) {
    const rows = await prisma.auditEvent.findMany({
      where: { sequence: { gte: expectedSequence } },
      orderBy: { sequence: 'asc' },
      take: batchSize,
    });
    if (rows.length === 0) break;
    for (const row of rows) {
      if (row.sequence !== expectedSequence) return broken(expectedSequence, 'sequence-gap');
      if (row.previousHash !== previousHash) return broken(row.sequence, 'link-broken');
      const { hash, ...content } = row;
      if (hashAuditRecord(content) !== hash) return broken(row.sequence, 'content-altered');
      previousHash = hash;
      expectedSequence += 1n;
      checkedCount += 1;
    }
  }
  // Rows the walk never reached (e.g. a gap at the very start) leave the counts apart.
  if (checkedCount !== totalCount) return broken(expectedSequence, 'sequence-gap');
  return { intact: true, checkedCount, totalCount, firstInvalidSequence: null, problem: null, headHash: checkedCount ? previousHash : null };
}
