import type { PrismaClient } from '../generated/prisma/client.ts';
import { canonicalAuditRecord } from './audit-record.ts';
import {
  decodeEntry,
  entryColumns,
  type LedgerBacklog,
  ledgerBacklog,
  storedConsistencyProof,
  storedInclusionProof,
  storedTreeSize,
} from './audit-tree.ts';
import { prismaSql } from './prisma-sql.ts';
import type { Checkpoint, VerifierKey } from './checkpoint.ts';
import { type LogVerification, verifyAuditLog } from './log-verification.ts';
import { leafHash } from './merkle.ts';
import type { AuditSequencer } from './sequencer.ts';

export interface InclusionProof {
  eventId: string;
  leafIndex: bigint;
  treeSize: bigint;
  /** The leaf's content: the canonical encoding of the entry. */
  entry: string;
  leafHash: Buffer;
  hashes: Buffer[];
  /** The signed checkpoint of treeSize. */
  checkpoint: string;
}

export interface ConsistencyProof {
  fromSize: bigint;
  toSize: bigint;
  hashes: Buffer[];
  fromCheckpoint: string;
  toCheckpoint: string;
}

/** Why a proof cannot be given (mapped to coded GraphQL errors by the repository). */
export class ProofUnavailable extends Error {
  override name = 'ProofUnavailable';
  constructor(
    readonly reason: 'unknown-entry' | 'not-integrated' | 'no-checkpoint',
    message: string,
  ) {
    super(message);
  }
}

/** How long a verification waits for this process or another to integrate what is queued. */
const settleTimeoutMs = 10_000;

/**
 * The server's view of the transparency log: verification of the stored log
 * (after integrating what is queued), signed checkpoints, and RFC 9162
 * inclusion and consistency proofs, each tied to a signed checkpoint.
 */
export class AuditLedger {
  constructor(
    private readonly prisma: PrismaClient,
    readonly sequencer: Pick<AuditSequencer, 'integrateAll'>,
    readonly verifierKey: VerifierKey,
  ) {}

  /**
   * Waits until the entries committed so far are integrated: at once when
   * this process is the sequencer, else until another has caught up.
   */
  async settle(): Promise<void> {
    if (await this.sequencer.integrateAll()) return;
    const sql = prismaSql(this.prisma);
    const [{ count }] = (await sql<{ count: string }>(`SELECT count(*)::text AS count FROM "AuditEvent"`)) as [{ count: string }];
    const deadline = Date.now() + settleTimeoutMs;
    while ((await storedTreeSize(sql)) < BigInt(count) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  }

  /** What waits for the sequencer (whichever process holds it) and the newest checkpoint's age. */
  backlog(): Promise<LedgerBacklog> {
    return ledgerBacklog(prismaSql(this.prisma));
  }

  /** Integrates what is queued, then verifies the whole log as an outside verifier would (see verifyAuditLog). */
  async verify(kept?: Checkpoint): Promise<LogVerification> {
    await this.settle();
    return verifyAuditLog(prismaSql(this.prisma), this.verifierKey, kept);
  }

  /** The signed checkpoint of a tree size, or the newest. */
  async checkpoint(size?: bigint): Promise<{ size: bigint; note: string } | undefined> {
    const [row] = await prismaSql(this.prisma)<{ size: string; note: string }>(
      size === undefined
        ? `SELECT "treeSize"::text AS size, note FROM "AuditCheckpoint" ORDER BY "treeSize" DESC LIMIT 1`
        : `SELECT "treeSize"::text AS size, note FROM "AuditCheckpoint" WHERE "treeSize" = $1::bigint`,
      size === undefined ? [] : [size.toString()],
    );
    return row && { size: BigInt(row.size), note: row.note };
  }

  private async checkpointOrFail(size?: bigint) {
    const checkpoint = await this.checkpoint(size);
    if (!checkpoint) {
      throw new ProofUnavailable('no-checkpoint', size === undefined ? 'The audit log has no checkpoint yet.' : `No checkpoint was signed at tree size ${size}.`);
    }
    return checkpoint;
  }

  /** Proves that an entry is in the tree of a signed checkpoint (default: the newest). */
  async inclusionProof(eventId: string, treeSize?: bigint): Promise<InclusionProof> {
    const sql = prismaSql(this.prisma);
    const [row] = await sql<Parameters<typeof decodeEntry>[0] & { position: string | null }>(
      `SELECT l.position::text AS position, ${entryColumns}
         FROM "AuditEvent" e LEFT JOIN "AuditLeaf" l ON l."eventSequence" = e.sequence WHERE e.id = $1::uuid`,
      [eventId],
    );
    if (!row) throw new ProofUnavailable('unknown-entry', 'No audit entry has this id.');
    const checkpoint = await this.checkpointOrFail(treeSize);
    const { position, ...entryRow } = row;
    if (position === null || BigInt(position) >= checkpoint.size) {
      throw new ProofUnavailable('not-integrated', `The entry is not in the tree of ${checkpoint.size} entries yet; it is integrated within a second.`);
    }
    const entry = canonicalAuditRecord(decodeEntry(entryRow));
    return {
      eventId,
      leafIndex: BigInt(position),
      treeSize: checkpoint.size,
      entry: entry.toString(),
      leafHash: leafHash(entry),
      hashes: await storedInclusionProof(sql, BigInt(position), checkpoint.size),
      checkpoint: checkpoint.note,
    };
  }

  /** Proves that the tree of one signed checkpoint is a prefix of a later one's (default: the newest). */
  async consistencyProof(fromSize: bigint, toSize?: bigint): Promise<ConsistencyProof> {
    const to = await this.checkpointOrFail(toSize);
    const from = await this.checkpointOrFail(fromSize);
    if (from.size > to.size) throw new ProofUnavailable('no-checkpoint', `A tree of ${from.size} entries is not a prefix of one of ${to.size}.`);
    return {
      fromSize: from.size,
      toSize: to.size,
      hashes: await storedConsistencyProof(prismaSql(this.prisma), from.size, to.size),
      fromCheckpoint: from.note,
      toCheckpoint: to.note,
    };
  }
}
