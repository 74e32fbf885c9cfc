import { canonicalAuditRecord } from './audit-record.ts';
import { latestCheckpoint, readLeaves, type Sql, storedConsistencyProof } from './audit-tree.ts';
import { type Checkpoint, CheckpointError, openCheckpoint, type VerifierKey } from './checkpoint.ts';
import { CompactRange, leafHash, verifyConsistency } from './merkle.ts';

export type LogProblem =
  | 'wrong-signature'
  | 'tree-smaller-than-checkpoint'
  | 'root-mismatch'
  | 'content-altered'
  | 'position-gap'
  | 'unsigned-leaves'
  | 'inconsistent-proof';

export interface LogVerification {
  intact: boolean;
  problem: LogProblem | null;
  /** The first inconsistency, in words. */
  message: string | null;
  /** Integrated entries whose content was checked against their leaf. */
  checkedCount: number;
  /** Entries in the log, integrated or still queued. */
  totalCount: number;
  /** The arrival number of the first entry found wrong. */
  firstInvalidSequence: bigint | null;
  /** Its position in the tree. */
  firstInvalidPosition: bigint | null;
  /** The database's newest signed checkpoint (verified), when it has one. */
  checkpoint: string | null;
  treeSize: bigint;
}

/**
 * Verifies the audit log in a database that is not trusted, with nothing but
 * the log's public key and, optionally, a checkpoint kept elsewhere (already
 * opened with that key):
 * - the database's newest checkpoint must carry a valid signature;
 * - every integrated entry, in tree order, is re-encoded and re-hashed, and
 *   must match the leaf hash stored for it;
 * - the recomputed tree of the kept checkpoint's size must have its root
 *   (so no entry before it was altered, removed, added or reordered, and the
 *   database is not an older backup), and so must the tree of the newest
 *   checkpoint's size; no leaf may lie beyond the newest checkpoint;
 * - the consistency proof the database serves between the two must verify.
 * Stops at the first inconsistency and names it.
 */
export async function verifyAuditLog(sql: Sql, key: VerifierKey, kept?: Checkpoint, batchSize = 2000): Promise<LogVerification> {
  const [{ total }] = (await sql<{ total: string }>(`SELECT count(*)::text AS total FROM "AuditEvent"`)) as [{ total: string }];
  const result: LogVerification = {
    intact: true,
    problem: null,
    message: null,
    checkedCount: 0,
    totalCount: Number(total),
    firstInvalidSequence: null,
    firstInvalidPosition: null,
    checkpoint: null,
    treeSize: 0n,
  };
  const fail = (problem: LogProblem, message: string, at?: { position: bigint; sequence?: bigint }): LogVerification => ({
    ...result,
    intact: false,
    problem,
    message,
    firstInvalidPosition: at?.position ?? null,
    firstInvalidSequence: at?.sequence ?? null,
  });

  const stored = await latestCheckpoint(sql);
  let newest: Checkpoint | undefined;
  if (stored) {
    try {
      newest = openCheckpoint(stored.note, key);
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      return fail('wrong-signature', `the database's newest checkpoint: ${error.message}`);
    }
    result.checkpoint = stored.note;
  }
  const newestSize = newest?.size ?? 0n;
  if (kept && newestSize < kept.size) {
    return fail('tree-smaller-than-checkpoint', `the database's tree has ${newestSize} entries, fewer than the kept checkpoint's ${kept.size} (truncated, or an older backup)`);
  }

  const range = new CompactRange();
  const checkRoot = (checkpoint: Checkpoint | undefined, name: string) =>
    checkpoint && range.treeSize === checkpoint.size && !range.root().equals(checkpoint.root)
      ? `the first ${checkpoint.size} entries do not hash to the root of ${name}: an entry before it was altered, removed, added or reordered`
      : undefined;
  for (;;) {
    const leaves = await readLeaves(sql, range.treeSize, batchSize);
    if (leaves.length === 0) break;
    for (const { position, entry, storedHash } of leaves) {
      const at = { position, sequence: entry.sequence };
      if (position !== range.treeSize) return fail('position-gap', `tree position ${range.treeSize} holds no entry`, { position: range.treeSize });
      if (position >= newestSize) {
        return fail('unsigned-leaves', `the entry at position ${position} (sequence ${entry.sequence}) is in the tree but in no signed checkpoint`, at);
      }
      const leaf = leafHash(canonicalAuditRecord(entry));
      if (!storedHash || !leaf.equals(storedHash)) {
        return fail('content-altered', `the entry at position ${position} (sequence ${entry.sequence}) does not match its leaf`, at);
      }
      range.append(leaf);
      result.checkedCount += 1;
      const mismatch = checkRoot(kept, 'the kept checkpoint') ?? checkRoot(newest, "the database's newest checkpoint");
      if (mismatch) return fail('root-mismatch', mismatch, at);
    }
  }
  result.treeSize = range.treeSize;
  if (range.treeSize < newestSize) {
    return fail('tree-smaller-than-checkpoint', `the database's tree has ${range.treeSize} entries, fewer than its newest checkpoint's ${newestSize}`, {
      position: range.treeSize,
    });
  }
  if (kept && newest && kept.size > 0n) {
    const proof = await storedConsistencyProof(sql, kept.size, newest.size).catch(() => undefined);
    if (!proof || !verifyConsistency(kept.size, newest.size, proof, kept.root, newest.root)) {
      return fail('inconsistent-proof', `the database's consistency proof from ${kept.size} to ${newest.size} entries does not verify (its stored tree nodes were altered)`);
    }
  }
  return result;
}
