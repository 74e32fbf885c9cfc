import { type Checkpoint, CheckpointError, openCheckpoint, type VerifierKey } from './checkpoint.ts';
import { leafHash, verifyInclusion } from './merkle.ts';

/*
 * Checks a saved inclusion proof (the JSON of `npm run audit:proof -- --entry`
 * or of GraphQL's auditInclusionProof) with nothing but the log's public key:
 * entry content → leaf hash → audit path → root of a signed checkpoint. No
 * database: this is what a third party runs to see that an access was logged.
 */

export type ProofProblem = 'malformed-proof' | 'wrong-signature' | 'checkpoint-mismatch' | 'entry-mismatch' | 'path-mismatch';

/** The fields of a logged entry a third party reads, from its canonical encoding. */
export interface ProvenEntry {
  id: string;
  recordedAt: string;
  actorSubject: string;
  action: string;
  outcome: string;
  patientIds: string[];
}

export type ProofVerification =
  | { valid: true; entry: ProvenEntry; leafIndex: bigint; checkpoint: Checkpoint }
  | { valid: false; problem: ProofProblem; message: string };

class ProofError extends Error {
  constructor(
    readonly problem: ProofProblem,
    message: string,
  ) {
    super(message);
  }
}

const decimal = /^(0|[1-9][0-9]{0,19})$/;
const base64Hash = /^[A-Za-z0-9+/]{43}=$/;

function field(proof: Record<string, unknown>, name: string, valid: (value: unknown) => boolean, what: string): unknown {
  const value = proof[name];
  if (!valid(value)) throw new ProofError('malformed-proof', `the proof's ${name} is not ${what}`);
  return value;
}

const isDecimal = (value: unknown) => (typeof value === 'string' && decimal.test(value)) || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0);
const isHash = (value: unknown) => typeof value === 'string' && base64Hash.test(value);

/** Reads a canonical entry (`["clinigraph-audit/1" | "clinigraph-audit/2", id, time, actor, roles, action, outcome, type, ids, patients, ...]`). */
function readEntry(text: string): ProvenEntry {
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch {
    throw new ProofError('malformed-proof', 'the proof\'s entry is not JSON');
  }
  if (!Array.isArray(fields) || (fields[0] !== 'clinigraph-audit/1' && fields[0] !== 'clinigraph-audit/2') || fields.length < 10) {
    throw new ProofError('malformed-proof', 'the proof\'s entry is not a canonical audit entry (clinigraph-audit/1 or /2)');
  }
  const [, id, recordedAt, actorSubject, , action, outcome, , , patientIds] = fields as unknown[];
  const texts = [id, recordedAt, actorSubject, action, outcome];
  if (!texts.every((text) => typeof text === 'string') || !Array.isArray(patientIds) || !patientIds.every((patient) => typeof patient === 'string')) {
    throw new ProofError('malformed-proof', "the proof's entry does not hold an audit entry's fields");
  }
  return { id, recordedAt, actorSubject, action, outcome, patientIds } as ProvenEntry;
}

/**
 * Verifies an inclusion proof offline.
 * @param proof the parsed proof JSON
 * @param key the log's public key (the only thing trusted)
 * @param keptCheckpoint a signed checkpoint the verifier holds, of the proof's
 *   tree size, to check against instead of the one the proof carries
 * @returns valid with the entry's readable fields, or the first problem, named
 */
export function verifyInclusionProofDocument(proof: unknown, key: VerifierKey, keptCheckpoint?: string): ProofVerification {
  try {
    if (typeof proof !== 'object' || proof === null) throw new ProofError('malformed-proof', 'the proof is not a JSON object');
    const document = proof as Record<string, unknown>;
    const eventId = field(document, 'eventId', (value) => typeof value === 'string', 'a string') as string;
    const leafIndex = BigInt(field(document, 'leafIndex', isDecimal, 'a decimal number') as string);
    const treeSize = BigInt(field(document, 'treeSize', isDecimal, 'a decimal number') as string);
    const entryText = field(document, 'entry', (value) => typeof value === 'string', 'a string') as string;
    const hashes = field(document, 'hashes', (value) => Array.isArray(value) && value.every(isHash), 'a list of base64 SHA-256 hashes') as string[];
    const note = keptCheckpoint ?? (field(document, 'checkpoint', (value) => typeof value === 'string', 'a signed checkpoint') as string);

    let checkpoint: Checkpoint;
    try {
      checkpoint = openCheckpoint(note, key);
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      throw new ProofError('wrong-signature', `the ${keptCheckpoint ? 'kept' : "proof's"} checkpoint: ${error.message}`);
    }
    if (checkpoint.size !== treeSize) {
      throw new ProofError('checkpoint-mismatch', `the proof is for a tree of ${treeSize} entries, the checkpoint is of ${checkpoint.size}`);
    }
    const entry = readEntry(entryText);
    if (entry.id !== eventId) throw new ProofError('entry-mismatch', `the proof's entry is ${entry.id}, not the entry ${eventId} it names`);
    const leaf = leafHash(Buffer.from(entryText));
    if (document.leafHash !== undefined && document.leafHash !== leaf.toString('base64')) {
      throw new ProofError('entry-mismatch', "the entry does not hash to the proof's leaf hash: the entry or its hash was altered");
    }
    const path = hashes.map((hash) => Buffer.from(hash, 'base64'));
    if (!verifyInclusion(leaf, leafIndex, treeSize, path, checkpoint.root)) {
      throw new ProofError(
        'path-mismatch',
        `the entry at position ${leafIndex} and the audit path do not lead to the root of the signed checkpoint of ${treeSize} entries (the entry, its position or the path was altered)`,
      );
    }
    return { valid: true, entry, leafIndex, checkpoint };
  } catch (error) {
    if (!(error instanceof ProofError)) throw error;
    return { valid: false, problem: error.problem, message: error.message };
  }
}
