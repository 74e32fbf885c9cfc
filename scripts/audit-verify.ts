#!/usr/bin/env tsx
/**
 * Verifies the audit log in a database it does not trust, with the log's
 * public key and, best, a checkpoint kept elsewhere earlier
 * (`npm run audit:checkpoint -- --out FILE`):
 *
 *   npm run audit:verify -- [--checkpoint FILE] [--public-key FILE]
 *
 * Checks the kept checkpoint's signature, that the database's tree is
 * consistent with it (nothing before it altered, removed or reordered, no
 * rollback to an older backup), the database's newest checkpoint's
 * signature, and every entry's content against its leaf. Exit 0: intact;
 * 1: the first inconsistency, named; 2: it could not verify (no database,
 * no key). Reads DATABASE_URL (or the embedded database in DATA_DIR) and
 * AUDIT_PUBLIC_KEY from the environment (or .env), never the server's
 * configuration: an auditor holds no server secret.
 *
 * Standalone on purpose: the checks use node:crypto only, and the entries are
 * read with plain pg or PGlite, not the server's Prisma client (an
 * architecture test keeps this file's imports so).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Checkpoint, CheckpointError, openCheckpoint } from '../src/audit/checkpoint.ts';
import { type LogReader, openLogReader } from '../src/audit/log-reader.ts';
import { verifyAuditLog } from '../src/audit/log-verification.ts';
import { loadVerifierKey } from '../src/audit/signing-key.ts';

const usage = `Usage: npm run audit:verify -- [--checkpoint FILE] [--public-key FILE]
  --checkpoint FILE   a signed checkpoint kept outside the database
  --public-key FILE   the log's verifier key (default: AUDIT_PUBLIC_KEY, or the development key in DATA_DIR)`;

let reader: LogReader | undefined;
try {
  if (existsSync('.env')) process.loadEnvFile('.env'); // variables already set win
  const { values: options } = parseArgs({ options: { checkpoint: { type: 'string' }, 'public-key': { type: 'string' }, help: { type: 'boolean' } } });
  if (options.help) {
    console.log(usage);
    process.exit(0);
  }
  const dataDir = path.resolve(process.env.DATA_DIR || './data');
  const key = await loadVerifierKey({ file: options['public-key'], text: process.env.AUDIT_PUBLIC_KEY, dataDir });
  let kept: Checkpoint | undefined;
  if (options.checkpoint) {
    try {
      kept = openCheckpoint(await readFile(options.checkpoint, 'utf8'), key);
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      console.error(`Audit log NOT VERIFIED: the kept checkpoint ${options.checkpoint}: ${error.message}`);
      process.exit(1);
    }
  }
  reader = await openLogReader({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir });
  const result = await verifyAuditLog(reader.sql, key, kept);
  if (result.intact) {
    const queued = result.totalCount - result.checkedCount;
    console.log(
      `Audit log intact: ${result.checkedCount} records checked against the tree of ${result.treeSize} signed by ${key.name}` +
        (queued ? ` (${queued} newer entries queued for integration)` : '') +
        (kept ? `; consistent with the kept checkpoint of ${kept.size} entries.` : '.'),
    );
  } else {
    console.error(`Audit log INCONSISTENT (${result.problem}): ${result.message}. ${result.checkedCount} entries verified before it.`);
    process.exitCode = 1;
  }
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  process.exitCode = 2;
} finally {
  await reader?.close();
}
