import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';

/*
 * Before version 08c0ce2 the audit log was a hash chain: every record stored
 * SHA-256 over a JSON array of its fields, its sequence first and the
 * previous record's hash last (`hash`, `previousHash`). The migration
 * audit_transparency_log drops those columns, and the sequencer then signs
 * the records into the Merkle tree as they are. Signing a chain that was
 * already broken would seal the tampering as history, so the upgrade first
 * recomputes the whole chain in the database and refuses, naming the first
 * broken record, before any migration runs (nothing is applied, so a retry
 * after a decision starts clean). The same check runs only while the columns
 * exist: once a database is past that migration there is nothing left to
 * check.
 */

/** The chain is broken, or does not end at the head an auditor kept: the upgrade must not seal it. */
export class LegacyAuditChainError extends Error {
  override name = 'LegacyAuditChainError';
  readonly code = 'AUDIT_CHAIN_BROKEN';
}

/** A JSON value as JSON.stringify writes it (PostgreSQL's to_json escapes strings the same way). */
const json = (expression: string) => `coalesce(to_json(${expression})::text, 'null')`;
const jsonArray = (column: string) => `coalesce(array_to_json(${column})::text, '[]')`;

/** The chain's canonical encoding, field for field as hashAuditRecord wrote it (src/audit/audit-record.ts at 62cd060). */
const canonical = `'[' || concat_ws(',', ${[
  json('sequence::text'),
  json('id::text'),
  json(`to_char("recordedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`),
  json('"actorSubject"'),
  jsonArray('"actorRoles"'),
  json('action'),
  json('outcome::text'),
  json('"resourceType"'),
  jsonArray('"resourceIds"'),
  jsonArray('"patientIds"'),
  json('"purposeOfUse"'),
  json('"breakGlass"'),
  json('reason'),
  json('"requestId"'),
  json('"operationName"'),
  json('"queryHash"'),
  json('"clientAddress"'),
  json('"userAgent"'),
  json('"previousHash"'),
].join(', ')}) || ']'`;

/**
 * A setting the owner made with `ALTER DATABASE … SET name = value`, read from
 * the catalog rather than the session: the embedded database does not apply
 * such settings to its session.
 */
const databaseSetting = (name: string) => `(SELECT substr(setting, ${name.length + 2}) FROM pg_db_role_setting s, unnest(s.setconfig) AS setting
      WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setting LIKE '${name}=%')`;

const chainCheck = `WITH chain AS (
    SELECT sequence, id, hash, "previousHash",
           lag(hash, 1, repeat('0', 64)) OVER (ORDER BY sequence) AS linked,
           encode(sha256(convert_to(${canonical}, 'UTF8')), 'hex') AS recomputed
      FROM "AuditEvent")
  SELECT (SELECT count(*) FROM chain)::text AS records,
         (SELECT hash FROM chain ORDER BY sequence DESC LIMIT 1) AS head,
         broken.sequence::text AS "brokenSequence", broken.id::text AS "brokenId", broken.link::text AS "brokenLink",
         ${databaseSetting('clinigraph.legacy_audit_chain_head')} AS "keptHead",
         ${databaseSetting('clinigraph.accept_broken_audit_chain_at')} AS accepted
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (SELECT sequence, id, "previousHash" <> linked AS link FROM chain
                        WHERE ("previousHash" <> linked OR hash <> recomputed)
                          AND NOT sequence::text = ANY (string_to_array(coalesce(${databaseSetting('clinigraph.accept_broken_audit_chain_at')}, ''), ','))
                        ORDER BY sequence LIMIT 1) AS broken ON true`;

export interface LegacyChainVerification {
  records: bigint;
  head: string | null;
}

/**
 * Verifies the hash chain of a database from before the transparency log,
 * when it still has one.
 * @returns the records checked and the chain's head, or undefined when the
 *   database has no chain (new, or already upgraded)
 * @throws LegacyAuditChainError naming the first record whose hash does not
 *   match its content or whose link does not match the record before it, or
 *   a head other than the one kept (`clinigraph.legacy_audit_chain_head`)
 */
export async function verifyLegacyAuditChain(adapterFactory: SqlMigrationAwareDriverAdapterFactory): Promise<LegacyChainVerification | undefined> {
  // Not disposed: the factory runs on the caller's pool, which disposing may end (adapter-pg's disposeExternalPool).
  const adapter = await adapterFactory.connect();
  return withoutStatementTimeout(adapter, checkChain);
}

type Query = (sql: string) => Promise<Record<string, string | null>[]>;

/**
 * Runs `work` in a read-only transaction of its own whose statements have no
 * time limit: the pool's statement_timeout (sized for API requests) would cut
 * a long chain's one pass off and stop the upgrade. SET LOCAL ends with the
 * transaction, so the connection goes back to the pool with its own limit.
 */
async function withoutStatementTimeout<T>(adapter: SqlDriverAdapter, work: (query: Query) => Promise<T>): Promise<T> {
  const transaction = await adapter.startTransaction();
  const query: Query = async (sql) => {
    const result = await transaction.queryRaw({ sql, args: [], argTypes: [] });
    return result.rows.map((row) => Object.fromEntries(result.columnNames.map((name, i) => [name, row[i] as string | null])));
  };
  // adapter-pg leaves COMMIT and ROLLBACK to its caller; PGlite's adapter (usePhantomQuery) sends them itself.
  const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
    try {
      if (!transaction.options.usePhantomQuery) await transaction.executeRaw({ sql: statement, args: [], argTypes: [] });
    } finally {
      await (statement === 'COMMIT' ? transaction.commit() : transaction.rollback());
    }
  };
  let result: T;
  try {
    await query('SET TRANSACTION READ ONLY');
    await query('SET LOCAL statement_timeout = 0');
    result = await work(query);
  } catch (error) {
    await end('ROLLBACK').catch(() => {});
    throw error;
  }
  await end('COMMIT');
  return result;
}

async function checkChain(query: Query): Promise<LegacyChainVerification | undefined> {
  const [column] = await query(`SELECT EXISTS (SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'AuditEvent' AND column_name = 'hash')::text AS present`);
  if (column?.present !== 'true') return undefined;
  const [chain] = await query(chainCheck);
  const { records, head, brokenSequence, brokenId, brokenLink, keptHead, accepted } = chain!;
  // Accepted breaks are a list, each named: accepting one never waives a later one.
  const accept = `ALTER DATABASE <database> SET clinigraph.accept_broken_audit_chain_at = '${accepted ? `${accepted},` : ''}${brokenSequence}'`;
  if (brokenSequence) {
    throw new LegacyAuditChainError(
      `The audit log's hash chain is broken at record ${brokenSequence} (${brokenId}): ` +
        (brokenLink === 'true'
          ? 'it does not link to the record before it (a record was removed, inserted or reordered). '
          : 'its hash does not match its content (the record was altered). ') +
        'Upgrading would sign it into the Merkle tree as it is, so no migration was applied. ' +
        `Keep the table as evidence and investigate (README, "Upgrading from the hash chain"); to upgrade anyway, as the tables' owner: ${accept}`,
    );
  }
  if (keptHead && keptHead !== head) {
    throw new LegacyAuditChainError(
      `The audit log's hash chain ends at ${head ?? 'no record'} (${records} records), not at the head kept before the upgrade (${keptHead}): ` +
        'records were rewritten with their hashes recomputed, or the newest removed. No migration was applied.',
    );
  }
  return { records: BigInt(records!), head: head ?? null };
}
