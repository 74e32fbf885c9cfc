import type { AuditRecord } from './audit-record.ts';
import { consistencyProof, type Hash, hashFromNodes, inclusionProof, nodeKey, nodesNeeded } from './merkle.ts';

/*
 * Reads of the stored tree (AuditLeaf, AuditTreeNode, AuditCheckpoint) in
 * plain SQL, so the same queries run on a Prisma client (the server,
 * prisma-sql.ts), on a node-postgres connection (the sequencer's own session,
 * the verifier) and on PGlite itself (the verifier, embedded). Every value is
 * cast in SQL to text, boolean, array or bytea, so every driver hands back
 * the same shapes. Nothing here imports Prisma.
 */

/** Runs one SQL statement with positional parameters ($1, $2, …) and returns its rows. */
export type Sql = <T>(text: string, values?: unknown[]) => Promise<T[]>;

/** An entry as stored, with its arrival number and inserting transaction. */
export interface StoredEntry extends Omit<AuditRecord, 'additionalEntities'> {
  sequence: bigint;
  transactionId: bigint;
  /** As the database holds it (a list of entities unless someone changed it). */
  additionalEntities: unknown;
}

/** SQL columns of an entry `e`, in the shapes decodeEntry reads. */
export const entryColumns = `e.sequence::text AS sequence, e."transactionId"::text AS "transactionId", e.id::text AS id,
  to_char(e."recordedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "recordedAt",
  e."actorSubject", e."actorRoles", e.action, e.outcome::text AS outcome, e."resourceType", e."resourceIds", e."patientIds",
  e."purposeOfUse", e."breakGlass", e.reason, e."requestId", e."clientRequestId", e."operationName", e."queryHash", e."clientAddress", e."userAgent",
  e."additionalEntities"::text AS "additionalEntities"`;

type EntryRow = Omit<StoredEntry, 'sequence' | 'transactionId' | 'recordedAt' | 'additionalEntities'> & {
  sequence: string;
  transactionId: string;
  recordedAt: string;
  additionalEntities: string;
};

export function decodeEntry(row: EntryRow): StoredEntry {
  return {
    ...row,
    sequence: BigInt(row.sequence),
    transactionId: BigInt(row.transactionId),
    recordedAt: new Date(row.recordedAt),
    actorRoles: row.actorRoles ?? [],
    resourceIds: row.resourceIds ?? [],
    patientIds: row.patientIds ?? [],
    // As stored, not checked: the leaf's hash is what tells whether it was changed.
    additionalEntities: JSON.parse(row.additionalEntities),
  };
}

/** An integrated entry and its place in the tree. */
export interface Leaf {
  position: bigint;
  entry: StoredEntry;
  /** The leaf hash the database stores for it (not trusted by the verifier: compared). */
  storedHash: Hash | undefined;
}

/** Integrated entries from `position` on, in tree order. */
export async function readLeaves(sql: Sql, from: bigint, limit: number): Promise<Leaf[]> {
  const rows = await sql<EntryRow & { position: string; hash: Uint8Array | null }>(
    `SELECT l.position::text AS position, n.hash, ${entryColumns}
       FROM "AuditLeaf" l
       JOIN "AuditEvent" e ON e.sequence = l."eventSequence"
       LEFT JOIN "AuditTreeNode" n ON n.level = 0 AND n.index = l.position
      WHERE l.position >= $1::bigint ORDER BY l.position LIMIT $2::int`,
    [from.toString(), limit],
  );
  return rows.map(({ position, hash, ...entry }) => ({
    position: BigInt(position),
    entry: decodeEntry(entry),
    storedHash: hash ? Buffer.from(hash) : undefined,
  }));
}

/** Stored hashes of perfect subtrees, keyed `level/index`. */
export async function readNodes(sql: Sql, nodes: { level: number; index: bigint }[]): Promise<Map<string, Hash>> {
  if (nodes.length === 0) return new Map();
  const rows = await sql<{ level: number; index: string; hash: Uint8Array }>(
    `SELECT n.level::int AS level, n.index::text AS index, n.hash
       FROM "AuditTreeNode" n JOIN jsonb_to_recordset($1::jsonb) AS want(level smallint, "index" bigint)
         ON n.level = want.level AND n.index = want.index`,
    [JSON.stringify(nodes.map((node) => ({ level: node.level, index: node.index.toString() })))],
  );
  return new Map(rows.map((row) => [nodeKey(row.level, BigInt(row.index)), Buffer.from(row.hash)]));
}

export interface StoredCheckpoint {
  size: bigint;
  root: Hash;
  note: string;
  createdAt: Date;
}

/** The newest checkpoint the database holds (its signature is checked by whoever reads it). */
export async function latestCheckpoint(sql: Sql): Promise<StoredCheckpoint | undefined> {
  const [row] = await sql<{ size: string; root: Uint8Array; note: string; createdAt: string }>(
    `SELECT "treeSize"::text AS size, "rootHash" AS root, note, to_char("createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"
       FROM "AuditCheckpoint" ORDER BY "treeSize" DESC LIMIT 1`,
  );
  return row && { size: BigInt(row.size), root: Buffer.from(row.root), note: row.note, createdAt: new Date(row.createdAt) };
}

/** Leaves in the stored tree (the highest position plus one). */
export async function storedTreeSize(sql: Sql): Promise<bigint> {
  const [row] = await sql<{ size: string }>(`SELECT COALESCE(max(position) + 1, 0)::text AS size FROM "AuditLeaf"`);
  return BigInt(row!.size);
}

/** What waits for the sequencer, and how old the newest signed checkpoint is. */
export interface LedgerBacklog {
  /** Committed entries not yet in the tree. */
  queued: number;
  /** Seconds since the oldest of them was recorded (null: none waits). */
  oldestQueuedAgeSeconds: number | null;
  /** Seconds since the newest checkpoint was signed (null: none yet). */
  checkpointAgeSeconds: number | null;
}

/**
 * The entries after the last one integrated, in the sequencer's own order
 * (transaction id, arrival number), so the count reads the backlog through
 * the index and not the whole log.
 */
export async function ledgerBacklog(sql: Sql): Promise<LedgerBacklog> {
  const [row] = await sql<{ queued: string; oldest: string | null; checkpoint: string | null }>(
    `WITH last AS (
       SELECT e."transactionId" AS tx, e.sequence AS seq FROM "AuditLeaf" l JOIN "AuditEvent" e ON e.sequence = l."eventSequence"
        ORDER BY l.position DESC LIMIT 1),
     cursor AS (SELECT coalesce((SELECT tx FROM last), 0) AS tx, coalesce((SELECT seq FROM last), 0) AS seq)
     SELECT count(*)::text AS queued,
            extract(epoch FROM clock_timestamp() - min(e."recordedAt"))::text AS oldest,
            (SELECT extract(epoch FROM clock_timestamp() - max("createdAt"))::text FROM "AuditCheckpoint") AS checkpoint
       FROM cursor, "AuditEvent" e WHERE (e."transactionId", e.sequence) > (cursor.tx, cursor.seq)`,
  );
  const seconds = (value: string | null | undefined) => (value == null ? null : Math.max(0, Number(value)));
  return { queued: Number(row!.queued), oldestQueuedAgeSeconds: seconds(row!.oldest), checkpointAgeSeconds: seconds(row!.checkpoint) };
}

/**
 * A stalled sequencer (none elected, or one that keeps failing, e.g. on a
 * tree that no longer matches its checkpoint): entries have waited longer
 * than `limitSeconds` and no checkpoint was signed for as long. An idle log
 * with an old checkpoint is not stalled.
 */
export const ledgerStalled = (backlog: LedgerBacklog, limitSeconds: number): boolean =>
  backlog.queued > 0 && (backlog.oldestQueuedAgeSeconds ?? 0) > limitSeconds && (backlog.checkpointAgeSeconds ?? Infinity) > limitSeconds;

/** Runs a proof against stored nodes: one query for every node it needs. */
async function prove(sql: Sql, proof: (hashOf: (start: bigint, end: bigint) => Hash) => Hash[]): Promise<Hash[]> {
  const nodes = await readNodes(sql, nodesNeeded(proof));
  return proof(hashFromNodes(nodes));
}

/** RFC 9162 inclusion proof of the leaf at `position` in the tree of `size` leaves. */
export const storedInclusionProof = (sql: Sql, position: bigint, size: bigint) => prove(sql, (hashOf) => inclusionProof(position, size, hashOf));

/** RFC 9162 consistency proof from the tree of `from` leaves to the tree of `to` leaves. */
export const storedConsistencyProof = (sql: Sql, from: bigint, to: bigint) => prove(sql, (hashOf) => consistencyProof(from, to, hashOf));
