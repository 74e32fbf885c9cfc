#!/usr/bin/env tsx
/**
 * Checks a saved inclusion proof offline, with the log's public key alone (no
 * database): that the entry it holds is in the tree of a signed checkpoint.
 *
 *   npm run audit:verify-proof -- --proof FILE [--checkpoint FILE] [--public-key FILE]
 *
 * FILE is the JSON of `npm run audit:proof -- --entry ID` or of GraphQL's
 * auditInclusionProof. --checkpoint checks against a checkpoint the verifier
 * kept instead of the one inside the proof. Exit 0: the entry is in the signed
 * tree (its time, actor, action and patients are printed); 1: it is not, and
 * why (malformed-proof, wrong-signature, checkpoint-mismatch, entry-mismatch,
 * path-mismatch); 2: it could not verify (no key, unreadable file).
 * Standalone like audit-verify.ts: node:crypto and nothing else.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { verifyInclusionProofDocument } from '../src/audit/proof-verification.ts';
import { loadVerifierKey } from '../src/audit/signing-key.ts';

const usage = `Usage: npm run audit:verify-proof -- --proof FILE [--checkpoint FILE] [--public-key FILE]
  --proof FILE        an inclusion proof (JSON of audit:proof --entry, or GraphQL auditInclusionProof)
  --checkpoint FILE   a signed checkpoint you kept, of the proof's tree size (default: the one in the proof)
  --public-key FILE   the log's verifier key (default: AUDIT_PUBLIC_KEY, or the development key in DATA_DIR)`;

try {
  if (existsSync('.env')) process.loadEnvFile('.env'); // variables already set win
  const { values: options } = parseArgs({
    options: { proof: { type: 'string' }, checkpoint: { type: 'string' }, 'public-key': { type: 'string' }, help: { type: 'boolean' } },
  });
  if (options.help || !options.proof) {
    console.log(usage);
    process.exit(options.help ? 0 : 2);
  }
  const key = await loadVerifierKey({ file: options['public-key'], text: process.env.AUDIT_PUBLIC_KEY, dataDir: path.resolve(process.env.DATA_DIR || './data') });
  const text = await readFile(options.proof, 'utf8');
  let proof: unknown;
  try {
    proof = JSON.parse(text);
  } catch {
    proof = undefined; // named below as a malformed proof
  }
  const kept = options.checkpoint ? await readFile(options.checkpoint, 'utf8') : undefined;
  const result = verifyInclusionProofDocument(proof, key, kept);
  if (result.valid) {
    const { entry } = result;
    console.log(
      `Proof valid: entry ${entry.id} (${entry.action}, ${entry.outcome}, by ${entry.actorSubject} at ${entry.recordedAt}` +
        (entry.patientIds.length ? `, patients ${entry.patientIds.join(', ')}` : '') +
        `) is at position ${result.leafIndex} of the tree of ${result.checkpoint.size} entries signed by ${key.name}.`,
    );
  } else {
    console.error(`Proof NOT VALID (${result.problem}): ${result.message}.`);
    process.exitCode = 1;
  }
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  process.exitCode = 2;
}
