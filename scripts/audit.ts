#!/usr/bin/env tsx
/**
 * The audit ledger from the command line (the offline verifier is audit-verify.ts):
 *   audit:checkpoint -- --out FILE         save the newest signed checkpoint, checked with the public key
 *   audit:proof -- --entry ID [--size N]   inclusion proof of an entry, checked against its signed checkpoint
 *   audit:proof -- --from N [--to M]       consistency proof between two signed tree sizes, checked
 *   audit:keygen -- [--name NAME]          a new Ed25519 signing key (AUDIT_SIGNING_KEY) and its public key
 * Reads DATABASE_URL (or the embedded database in DATA_DIR) and AUDIT_PUBLIC_KEY.
 */
import 'dotenv/config';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { AuditLedger } from '../src/audit/audit-ledger.ts';
import { generateSignerKey, openCheckpoint, parseSignerKey, type VerifierKey } from '../src/audit/checkpoint.ts';
import { leafHash, verifyConsistency, verifyInclusion } from '../src/audit/merkle.ts';
import { loadVerifierKey } from '../src/audit/signing-key.ts';
import { type Database, openDatabase } from '../src/db/database.ts';

const dataDir = path.resolve(process.env.DATA_DIR || './data');
const program = new Command('audit').option('--public-key <file>', "the log's verifier key (default: AUDIT_PUBLIC_KEY, or the development key in DATA_DIR)");

/** Opens the database and a ledger over it that only reads (proofs and checkpoints need no sequencer). */
async function withLedger(work: (ledger: AuditLedger, key: VerifierKey) => Promise<void>): Promise<void> {
  const key = await loadVerifierKey({ file: program.opts<{ publicKey?: string }>().publicKey, text: process.env.AUDIT_PUBLIC_KEY, dataDir });
  let db: Database | undefined;
  try {
    db = await openDatabase({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir, poolSize: 2 });
    await work(new AuditLedger(db.prisma, { integrateAll: async () => false }, key), key);
  } finally {
    await db?.close();
  }
}

const size = (value: string) => {
  if (!/^(0|[1-9][0-9]{0,17})$/.test(value)) throw new Error(`not a tree size: ${value}`);
  return BigInt(value);
};

program
  .command('checkpoint')
  .description('save the newest signed checkpoint (verify against it later with audit:verify --checkpoint FILE)')
  .option('--out <file>', 'where to write it (default: standard output)')
  .action((options: { out?: string }) =>
    withLedger(async (ledger, key) => {
      const checkpoint = await ledger.checkpoint();
      if (!checkpoint) throw new Error('The audit log has no checkpoint yet.');
      openCheckpoint(checkpoint.note, key); // a checkpoint the key does not sign is not worth keeping
      if (options.out) {
        await writeFile(options.out, checkpoint.note);
        console.log(`Saved the checkpoint of ${checkpoint.size} entries to ${options.out}.`);
      } else process.stdout.write(checkpoint.note);
    }),
  );

program
  .command('proof')
  .description('an inclusion proof (--entry) or a consistency proof (--from), checked with the public key')
  .option('--entry <id>', 'audit entry id')
  .option('--size <n>', 'tree size of the checkpoint to prove the entry in (default: the newest)')
  .option('--from <n>', 'the earlier tree size of a consistency proof')
  .option('--to <n>', 'the later tree size (default: the newest)')
  .action((options: { entry?: string; size?: string; from?: string; to?: string }) =>
    withLedger(async (ledger, key) => {
      if (options.entry) {
        const proof = await ledger.inclusionProof(options.entry, options.size === undefined ? undefined : size(options.size));
        const checkpoint = openCheckpoint(proof.checkpoint, key);
        const valid = verifyInclusion(leafHash(Buffer.from(proof.entry)), proof.leafIndex, checkpoint.size, proof.hashes, checkpoint.root);
        print({ ...proof, leafHash: proof.leafHash.toString('base64'), hashes: proof.hashes.map((hash) => hash.toString('base64')), valid });
        if (!valid) process.exitCode = 1;
      } else if (options.from) {
        const proof = await ledger.consistencyProof(size(options.from), options.to === undefined ? undefined : size(options.to));
        const [from, to] = [openCheckpoint(proof.fromCheckpoint, key), openCheckpoint(proof.toCheckpoint, key)];
        const valid = verifyConsistency(from.size, to.size, proof.hashes, from.root, to.root);
        print({ ...proof, hashes: proof.hashes.map((hash) => hash.toString('base64')), valid });
        if (!valid) process.exitCode = 1;
      } else throw new Error('Give --entry ID or --from SIZE.');
    }),
  );

program
  .command('keygen')
  .description('print a new Ed25519 checkpoint signing key and its public key')
  .option('--name <name>', "the log's name (the checkpoints' origin)", 'clinigraph/audit')
  .action((options: { name: string }) => {
    const signer = generateSignerKey(options.name);
    console.log(`AUDIT_SIGNING_KEY=${signer}\nAUDIT_PUBLIC_KEY=${parseSignerKey(signer).text}`);
  });

function print(value: object): void {
  console.log(JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item), 2));
}

program.parseAsync().catch((error: Error) => {
  console.error(`error: ${error.message}`);
  process.exitCode = 2;
});
