import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import type { Hash } from './merkle.ts';

/*
 * Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes
 * with Ed25519 (the format of Go's golang.org/x/mod/sumdb/note, so its tools
 * and witnesses read them):
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n
 *   \n
 *   — <key name> <base64(4-byte key id || 64-byte signature)>\n
 *
 * The signature covers the text above the blank line. Keys are written as
 * notes write them: `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`
 * to sign, `<name>+<key id hex>+<base64(0x01 || public key)>` to verify.
 * The log's origin is the key's name.
 */

const ed25519Type = 0x01;
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
const spkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');
const keyNamePattern = /^[^\s+]+$/;

export interface Checkpoint {
  origin: string;
  size: bigint;
  root: Hash;
}

export interface VerifierKey {
  name: string;
  id: Buffer;
  publicKey: KeyObject;
  /** The key as text (`name+id+base64`), to publish. */
  text: string;
}

export interface SignerKey extends VerifierKey {
  privateKey: KeyObject;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The 4-byte key id of the signed-note format: SHA-256(name || \n || type || public key), first 4 bytes. */
function keyId(name: string, rawPublic: Buffer): Buffer {
  return createHash('sha256').update(name).update('\n').update(Buffer.of(ed25519Type)).update(rawPublic).digest().subarray(0, 4);
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  return Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
}

function verifierFromRaw(name: string, rawPublic: Buffer): VerifierKey {
  const id = keyId(name, rawPublic);
  return {
    name,
    id,
    publicKey: createPublicKey({ key: Buffer.concat([spkiPrefix, rawPublic]), format: 'der', type: 'spki' }),
    text: `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.of(ed25519Type), rawPublic]).toString('base64')}`,
  };
}

/** Reads `name+id+base64` (base64 may itself hold `+`). */
function decodeKey(text: string, fields: string[], kind: string): { name: string; id: string; key: Buffer } {
  const [name, id, ...rest] = fields;
  const encoded = rest.join('+');
  const key = Buffer.from(encoded ?? '', 'base64');
  if (!name || !keyNamePattern.test(name) || !/^[0-9a-f]{8}$/.test(id ?? '') || key.length !== 33 || key[0] !== ed25519Type) {
    throw new CheckpointError(`not an Ed25519 ${kind} key in signed-note format: ${text.slice(0, 20)}…`);
  }
  return { name, id: id!, key: key.subarray(1) };
}

/** Reads a verifier key (`name+id+base64`). */
export function parseVerifierKey(text: string): VerifierKey {
  const { name, id, key } = decodeKey(text.trim(), text.trim().split('+'), 'verifier');
  const verifier = verifierFromRaw(name, key);
  if (verifier.id.toString('hex') !== id) throw new CheckpointError(`the verifier key's id ${id} does not match its key`);
  return verifier;
}

/** Reads a signer key (`PRIVATE+KEY+name+id+base64`). */
export function parseSignerKey(text: string): SignerKey {
  const fields = text.trim().split('+');
  if (fields[0] !== 'PRIVATE' || fields[1] !== 'KEY') throw new CheckpointError('a signer key starts with PRIVATE+KEY+');
  const { name, id, key: seed } = decodeKey('PRIVATE+KEY+…', fields.slice(2), 'signer');
  const privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: 'der', type: 'pkcs8' });
  const verifier = verifierFromRaw(name, rawPublicKey(createPublicKey(privateKey)));
  if (verifier.id.toString('hex') !== id) throw new CheckpointError(`the signer key's id ${id} does not match its key`);
  return { ...verifier, privateKey };
}

/** A new signer key, as text. */
export function generateSignerKey(name: string): string {
  if (!keyNamePattern.test(name)) throw new CheckpointError('a key name has no spaces or +');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const id = keyId(name, rawPublicKey(publicKey));
  return `PRIVATE+KEY+${name}+${id.toString('hex')}+${Buffer.concat([Buffer.of(ed25519Type), seed]).toString('base64')}`;
}

const checkpointBody = (checkpoint: Checkpoint) => `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.root.toString('base64')}\n`;

/** The signed note of a checkpoint; its origin is the key's name. */
export function signCheckpoint(key: SignerKey, size: bigint, root: Hash): string {
  const body = checkpointBody({ origin: key.name, size, root });
  const signature = sign(null, Buffer.from(body), key.privateKey);
  return `${body}\n— ${key.name} ${Buffer.concat([key.id, signature]).toString('base64')}\n`;
}

/**
 * Reads a signed checkpoint and checks it with nothing but the key: the
 * signature line of that key must verify over the text, and the text must be
 * a checkpoint of that key's log.
 * @throws CheckpointError naming what is wrong
 */
export function openCheckpoint(note: string, key: VerifierKey): Checkpoint {
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new CheckpointError('not a signed note (no blank line before the signatures)');
  const body = note.slice(0, split + 1);
  const signatures = note.slice(split + 2, -1).split('\n');
  const signed = signatures.some((line) => {
    const match = /^— (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!match || match[1] !== key.name) return false;
    const decoded = Buffer.from(match[2]!, 'base64');
    return decoded.length === 68 && decoded.subarray(0, 4).equals(key.id) && verify(null, Buffer.from(body), key.publicKey, decoded.subarray(4));
  });
  if (!signed) throw new CheckpointError(`wrong signature: the checkpoint is not signed by ${key.name}+${key.id.toString('hex')}`);
  const [origin, size, root] = body.split('\n');
  const rootHash = Buffer.from(root ?? '', 'base64');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(size ?? '') || rootHash.length !== 32 || rootHash.toString('base64') !== root) {
    throw new CheckpointError('signed, but not a tlog-checkpoint (origin, size, base64 root hash)');
  }
  if (origin !== key.name) throw new CheckpointError(`the checkpoint is of log "${origin}", not "${key.name}"`);
  return { origin, size: BigInt(size!), root: rootHash };
}
