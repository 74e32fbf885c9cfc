import { hkdfSync } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSignerKey, parseSignerKey, parseVerifierKey, type SignerKey, type VerifierKey } from './checkpoint.ts';

/*
 * The key that signs audit checkpoints: AUDIT_SIGNING_KEY, or in development
 * a key made on first use in DATA_DIR/dev-keys (like the development token
 * key), with its public half beside it for `npm run audit:verify`.
 * Production refuses to start without AUDIT_SIGNING_KEY (config.ts).
 */

export const developmentLogName = 'clinigraph-dev/audit';
const keyFile = (dataDir: string) => path.join(dataDir, 'dev-keys', 'audit-checkpoint.key');
/** The development key's public half (a verifier key), for the CLI. */
export const developmentVerifierKeyFile = (dataDir: string) => path.join(dataDir, 'dev-keys', 'audit-checkpoint.pub');

export async function loadSigningKey(configured: string | undefined, dataDir: string): Promise<SignerKey> {
  if (configured) return parseSignerKey(configured);
  const file = keyFile(dataDir);
  let text = await readFile(file, 'utf8').catch(() => undefined);
  if (!text) {
    text = generateSignerKey(developmentLogName);
    await mkdir(path.dirname(file), { recursive: true });
    // Two processes on one DATA_DIR may both get here: the first file written wins, both read it back.
    await writeFile(file, text, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await chmod(file, 0o600);
    text = await readFile(file, 'utf8');
  }
  const key = parseSignerKey(text);
  await writeFile(developmentVerifierKeyFile(dataDir), `${key.text}\n`);
  return key;
}

/**
 * The key of the audit log's query hashes (HMAC-SHA256 of the GraphQL
 * document), derived from the signing key so that no second secret has to be
 * configured: an unkeyed hash of a document with an MRN inline would give
 * the MRN back to anyone who can try candidates.
 */
export function queryHashKey(signer: SignerKey): Buffer {
  const seed = Buffer.from(signer.privateKey.export({ format: 'jwk' }).d!, 'base64url');
  return Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), 'clinigraph audit query hash', 32));
}

/**
 * The public key a verifier trusts, and nothing from the database: a key
 * file, else AUDIT_PUBLIC_KEY, else the development key's public half in
 * DATA_DIR (development only: a production verifier is given the key).
 */
export async function loadVerifierKey(options: { file?: string | undefined; text?: string | undefined; dataDir: string }): Promise<VerifierKey> {
  if (options.file) return parseVerifierKey(await readFile(options.file, 'utf8'));
  if (options.text) return parseVerifierKey(options.text);
  const text = await readFile(developmentVerifierKeyFile(options.dataDir), 'utf8').catch(() => {
    throw new Error('No public key: pass --public-key FILE or set AUDIT_PUBLIC_KEY (the verifier key text).');
  });
  return parseVerifierKey(text);
}
