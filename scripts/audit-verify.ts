#!/usr/bin/env tsx
/**
 * Walks the audit log's hash chain in the configured database and reports the
 * first altered record, or that the chain is intact (exit code 0), with the
 * number of records checked and the head hash to keep elsewhere.
 */
import 'dotenv/config';
import { verifyAuditChain } from '../src/audit/chain-verification.ts';
import { loadConfig } from '../src/config/config.ts';
import { type Database, openDatabase } from '../src/db/database.ts';

let db: Database | undefined;
try {
  const config = loadConfig();
  db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  const result = await verifyAuditChain(db.prisma);
  if (result.intact) {
    console.log(`Audit chain intact: ${result.checkedCount} records checked. Head hash: ${result.headHash ?? '(empty log)'}`);
  } else {
    console.error(
      `Audit chain BROKEN at sequence ${result.firstInvalidSequence}: ${result.problem}. ` +
        `${result.checkedCount} of ${result.totalCount} records verified before it.`,
    );
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await db?.close();
}
