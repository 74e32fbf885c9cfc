import { hash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaClient } from '../generated/prisma/client.ts';
import { canonicalAuditRecord } from './audit-record.ts';
import { decodeEntry, entryColumns, latestCheckpoint, readNodes, type Sql, storedTreeSize } from './audit-tree.ts';
import { prismaSql } from './prisma-sql.ts';
import { signCheckpoint, type SignerKey } from './checkpoint.ts';
import { CompactRange, edgeNodes, leafHash, nodeKey, type TreeNode } from './merkle.ts';

/** Key of the session-level advisory lock whose holder is the one sequencer of a database. */
const sequencerLockKey = 0x636c6e73; // "clns"

export interface SequencerOptions {
  signer: SignerKey;
  /** Most entries integrated per batch (and per checkpoint). */
  batchSize: number;
  /** How often queued entries are looked for (at most a second). */
  intervalMs: number;
  /** Directory of the witness file every checkpoint is appended to, outside the database. */
  checkpointDir: string | undefined;
  /** Called after each batch with the commit-to-checkpoint lag of its entries, in ms. */
  onBatch?: (lagsMs: number[]) => void;
}

/** Where the sequencer writes: a session that can run a transaction. */
interface Session {
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  sql: Sql;
  close(): Promise<void>;
}

/** The tree as the last committed batch left it, and the last entry integrated. */
interface TreeState {
  range: CompactRange;
  cursor: { transactionId: bigint; sequence: bigint };
}

/** The stored tree does not match its own latest checkpoint: integrating on top would sign tampered data. */
export class TreeMismatchError extends Error {
  override name = 'TreeMismatchError';
}

/**
 * Integrates committed audit entries into the Merkle tree, in batches, and
 * signs a checkpoint after each one.
 *
 * One sequencer is active per database. On PostgreSQL every server process
 * runs one, and the one that holds a session-level advisory lock on a
 * connection of its own is active; the others retry every interval, so when
 * the holder dies (even kill -9: its connection closes and PostgreSQL frees
 * the lock) another takes over within a second or two. Its batches run on
 * that same connection, so a sequencer that lost its session cannot write.
 * On the embedded database the one process is the sequencer.
 *
 * Which entries a batch may take (commit order is not arrival order): every
 * entry records the id of the transaction that inserted it (xid8, which never
 * wraps). A batch reads, in one snapshot, a horizon and the entries of
 * transactions below it that follow the last one integrated, in the order
 * (transaction id, arrival number). The horizon is the snapshot's xmax, or
 * lower, the oldest transaction still running in this snapshot that may be
 * writing to this database (running transactions that pg_stat_activity
 * shows connected to another database are left out, so another database's
 * long transaction does not stall this log; one it cannot attribute, such as
 * a prepared transaction or one that ended a moment ago, counts). Every
 * transaction below the horizon has ended or belongs elsewhere, so each is
 * either visible to this snapshot with every entry it will ever have, or
 * rolled back; and no transaction that starts later can get an id below it.
 * So the order is total and final: no committed entry can later appear
 * before a position already given, and none is skipped. The cost: an entry
 * waits for the transactions that were running in this database when it
 * committed (keep them short; idle-in-transaction sessions are ended by the
 * statement timeout). The server's role needs pg_read_all_stats to see other
 * roles' transactions (README, "Database roles"); without it they count.
 *
 * The leaves, the completed nodes and the signed checkpoint of a batch are
 * inserted in one transaction, so the stored tree never holds a leaf that no
 * checkpoint covers; the primary keys refuse a second writer's positions.
 * The checkpoint is then appended to the witness file.
 */
export class AuditSequencer {
  private session: Session | undefined;
  private state: TreeState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private appendedSinceBatch = 0;
  private stopped = false;
  /** The last failure logged: a database that stays away, or a tampered tree, is logged once, not every interval. */
  private lastFailure: string | undefined;

  constructor(
    /** The embedded database's adapter: the sequencer's own client over it, whose statements no request metric counts. */
    private readonly adapterFactory: SqlDriverAdapterFactory,
    /** PostgreSQL URL for the sequencer's own session; undefined on the embedded database. */
    private readonly databaseUrl: string | undefined,
    private readonly options: SequencerOptions,
    private readonly log: Logger,
  ) {}

  /** Starts integrating (or waiting to be elected). */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** True while this process is the active sequencer. */
  get active(): boolean {
    return this.state !== undefined;
  }

  /** Writers report entries they appended; a full batch is integrated at once instead of at the next interval. */
  noteAppended(records: number): void {
    this.appendedSinceBatch += records;
    if (this.appendedSinceBatch >= this.options.batchSize && !this.running) void this.tick();
  }

  /**
   * Integrates everything committed so far, when this process is the
   * sequencer; resolves after the last batch. Returns whether it was.
   */
  async integrateAll(): Promise<boolean> {
    while (this.running) await this.running;
    await this.tick();
    return this.active;
  }

  /** Integrates what is committed, then leaves the election (the lock is freed with the session). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.running) await this.running;
    if (this.state) await this.tick();
    this.stopped = true;
    await this.resign();
  }

  private tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(): Promise<void> {
    try {
      if (!this.state && !(await this.elect())) return;
      // A full batch means more may be waiting, and so do writers that filled one while this batch ran: go on at once.
      while ((await this.integrateBatch()) === this.options.batchSize || this.appendedSinceBatch >= this.options.batchSize);
      this.lastFailure = undefined;
    } catch (error) {
      // Only the sequencer's own messages are logged: a database error's text may hold values.
      const message = error instanceof TreeMismatchError ? error.message : undefined;
      const failure = `${(error as Error).name}:${message}`;
      if (failure !== this.lastFailure) this.log.error({ errorType: (error as Error).name, message }, 'audit sequencer batch failed');
      this.lastFailure = failure;
      await this.resign();
    }
  }

  /** Takes the sequencer's lock if it is free, then loads the tree. */
  private async elect(): Promise<boolean> {
    this.session ??= this.databaseUrl ? await postgresSession(this.databaseUrl) : prismaSession(this.adapterFactory);
    if (this.databaseUrl) {
      const [row] = await this.session.sql<{ held: boolean }>(`SELECT pg_try_advisory_lock($1::bigint) AS held`, [sequencerLockKey]);
      if (!row?.held) return false;
    }
    this.state = await loadTree(this.session.sql);
    this.log.info({ treeSize: this.state.range.treeSize.toString() }, 'audit sequencer active');
    return true;
  }

  private async resign(): Promise<void> {
    this.state = undefined;
    const session = this.session;
    this.session = undefined;
    await session?.close().catch(() => {});
  }

  /** One batch: the next committed entries, their leaves and nodes, and a signed checkpoint. Returns the entries integrated. */
  private async integrateBatch(): Promise<number> {
    const state = this.state!;
    this.appendedSinceBatch = 0;
    const batch = await this.session!.transaction(async (sql) => {
      const queued = await nextQueuedEntries(sql, state.cursor, this.options.batchSize);
      if (queued.length === 0) return undefined;
      const range = state.range.clone();
      const first = range.treeSize;
      const nodes: TreeNode[] = queued.flatMap((entry) => range.append(entry.leafHash));
      await sql(
        `INSERT INTO "AuditLeaf" (position, "eventSequence")
           SELECT position, "eventSequence" FROM jsonb_to_recordset($1::jsonb) AS x(position bigint, "eventSequence" bigint)`,
        [JSON.stringify(queued.map((entry, i) => ({ position: (first + BigInt(i)).toString(), eventSequence: entry.sequence })))],
      );
      await sql(
        `INSERT INTO "AuditTreeNode" (level, index, hash)
           SELECT level, "index", decode(hash, 'hex') FROM jsonb_to_recordset($1::jsonb) AS x(level smallint, "index" bigint, hash text)`,
        [JSON.stringify(nodes.map((node) => ({ level: node.level, index: node.index.toString(), hash: node.hash.toString('hex') })))],
      );
      const note = signCheckpoint(this.options.signer, range.treeSize, range.root());
      await sql(`INSERT INTO "AuditCheckpoint" ("treeSize", "rootHash", note) VALUES ($1::bigint, decode($2, 'hex'), $3)`, [
        range.treeSize.toString(),
        range.root().toString('hex'),
        note,
      ]);
      const last = queued[queued.length - 1]!;
      return { range, note, queued, cursor: { transactionId: BigInt(last.transactionId), sequence: BigInt(last.sequence) } };
    });
    if (!batch) return 0;
    this.state = { range: batch.range, cursor: batch.cursor };
    const now = Date.now();
    this.options.onBatch?.(batch.queued.map((entry) => now - entry.recordedMs));
    await this.witness(batch.note);
    return batch.queued.length;
  }

  /** Appends a checkpoint to the witness file; a failure is logged, and the next checkpoint (consistent with this one) covers it. */
  private async witness(note: string): Promise<void> {
    const dir = this.options.checkpointDir;
    if (!dir) return;
    try {
      await mkdir(dir, { recursive: true });
      await appendFile(path.join(dir, witnessFileName), note);
    } catch (error) {
      this.log.error({ errorType: (error as Error).name }, 'audit checkpoint could not be written to the witness file');
    }
  }
}

/** An entry waiting for its place: where it sorts, its leaf hash and when it was recorded. */
interface QueuedEntry {
  sequence: string;
  transactionId: string;
  leafHash: Buffer;
  recordedMs: number;
}

/**
 * The next committed entries in integration order (see the class comment).
 * Writers store each entry's leaf hash with it, so only that is read; an
 * entry written before they did is read whole and hashed here.
 */
async function nextQueuedEntries(sql: Sql, cursor: TreeState['cursor'], limit: number): Promise<QueuedEntry[]> {
  const rows = await sql<{ sequence: string; transactionId: string; leafHash: Uint8Array | null; recordedMs: number }>(
    `SELECT e.sequence::text AS sequence, e."transactionId"::text AS "transactionId", e."leafHash",
            (extract(epoch FROM e."recordedAt") * 1000)::float8 AS "recordedMs"
       FROM "AuditEvent" e
      WHERE e."transactionId" < (${horizon})
        AND (e."transactionId", e.sequence) > ($1::bigint, $2::bigint)
      ORDER BY e."transactionId", e.sequence LIMIT $3::int`,
    [cursor.transactionId.toString(), cursor.sequence.toString(), limit],
  );
  const unhashed = rows.filter((row) => !row.leafHash).map((row) => row.sequence);
  const hashed = unhashed.length === 0 ? new Map<string, Buffer>() : await hashEntries(sql, unhashed);
  return rows.map((row) => ({ ...row, leafHash: row.leafHash ? Buffer.from(row.leafHash) : hashed.get(row.sequence)! }));
}

/** Leaf hashes of entries that were stored without one, by arrival number. */
async function hashEntries(sql: Sql, sequences: string[]): Promise<Map<string, Buffer>> {
  const rows = await sql<Parameters<typeof decodeEntry>[0]>(`SELECT ${entryColumns} FROM "AuditEvent" e WHERE e.sequence = ANY($1::bigint[])`, [sequences]);
  return new Map(rows.map((row) => [row.sequence, leafHash(canonicalAuditRecord(decodeEntry(row)))]));
}

/** See the class comment: below this transaction id, every transaction that may write here has ended. */
const horizon = `WITH snapshot AS (SELECT pg_current_snapshot() AS s)
  SELECT LEAST(pg_snapshot_xmax(s)::text::bigint, (
    SELECT min(running::text::bigint) FROM pg_snapshot_xip(s) AS running
     WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.backend_xid = running::xid AND a.datname <> current_database())))
  FROM snapshot`;

/** The witness file's name in AUDIT_CHECKPOINT_DIR: every checkpoint, appended in order. */
export const witnessFileName = 'audit-checkpoints.log';

/**
 * Loads the right edge of the stored tree and the last entry integrated,
 * after checking that the stored tree is the one its newest checkpoint
 * names (same size, same root from the stored nodes).
 */
async function loadTree(sql: Sql): Promise<TreeState> {
  const checkpoint = await latestCheckpoint(sql);
  const size = await storedTreeSize(sql);
  if (size !== (checkpoint?.size ?? 0n)) {
    throw new TreeMismatchError(`the stored tree has ${size} leaves but its newest checkpoint ${checkpoint?.size ?? 0n}: refusing to integrate`);
  }
  const edge = edgeNodes(size);
  const nodes = await readNodes(sql, edge);
  const hashes = edge.map((node) => nodes.get(nodeKey(node.level, node.index)));
  if (hashes.some((hash) => !hash)) throw new TreeMismatchError('nodes of the stored tree are missing: refusing to integrate');
  const range = new CompactRange(size, hashes as Buffer[]);
  if (checkpoint && !range.root().equals(checkpoint.root)) {
    throw new TreeMismatchError('the stored tree does not hash to its newest checkpoint: refusing to integrate');
  }
  if (size === 0n) return { range, cursor: { transactionId: 0n, sequence: 0n } };
  const [last] = await sql<{ transactionId: string; sequence: string }>(
    `SELECT e."transactionId"::text AS "transactionId", e.sequence::text AS sequence
       FROM "AuditLeaf" l JOIN "AuditEvent" e ON e.sequence = l."eventSequence" WHERE l.position = $1::bigint`,
    [(size - 1n).toString()],
  );
  if (!last) throw new TreeMismatchError('the last leaf names no entry: refusing to integrate');
  return { range, cursor: { transactionId: BigInt(last.transactionId), sequence: BigInt(last.sequence) } };
}

/** A prepared statement's name for a text: the same text, the same statement. */
const statementName = (text: string): string => `audit-${hash('sha256', text, 'hex').slice(0, 16)}`;

/** A connection of the sequencer's own: its session holds the lock, and its batches run on it. */
async function postgresSession(url: string): Promise<Session> {
  const client = new pg.Client({ connectionString: url, application_name: 'clinigraph-audit-sequencer', connectionTimeoutMillis: 5_000 });
  // A dead connection is found by the next query; until then, errors must not crash the process.
  client.on('error', () => {});
  await client.connect();
  // Named, so PostgreSQL plans each of the sequencer's few statements once per session instead of at every poll.
  const sql: Sql = async <T>(text: string, values: unknown[] = []) => (await client.query({ name: statementName(text), text, values })).rows as T[];
  return {
    sql,
    async transaction(work) {
      await client.query('BEGIN');
      try {
        const result = await work(sql);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    },
    close: () => client.end(),
  };
}

/** The embedded database: the one process is the sequencer, on a client of its own over the same database. */
function prismaSession(adapter: SqlDriverAdapterFactory): Session {
  const prisma = new PrismaClient({ adapter, errorFormat: 'minimal' });
  return {
    sql: prismaSql(prisma),
    transaction: (work) => prisma.$transaction((tx) => work(prismaSql(tx)), { maxWait: 10_000, timeout: 30_000 }),
    close: () => prisma.$disconnect(),
  };
}
