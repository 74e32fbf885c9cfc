import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { type AuditRecord, canonicalAuditRecord } from '../../src/audit/audit-record.ts';
import { CheckpointError, generateSignerKey, openCheckpoint, parseSignerKey, parseVerifierKey, signCheckpoint } from '../../src/audit/checkpoint.ts';
import {
  consistencyProof,
  emptyRoot,
  type Hash,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle.ts';

/** MTH of RFC 9162 2.1.1, written as the RFC defines it (recursively), to check the bottom-up implementation against. */
function referenceRoot(leaves: Hash[]): Hash {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

const leaves = Array.from({ length: 21 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
const hashOf = (start: bigint, end: bigint) => referenceRoot(leaves.slice(Number(start), Number(end)));
const root = (size: number) => referenceRoot(leaves.slice(0, size));

describe('the Merkle tree (RFC 9162)', () => {
  it('hashes leaves with 0x00 and nodes with 0x01, and matches the RFC definition of the root for every size', () => {
    assert.deepEqual(leafHash(Buffer.from('')), createHash('sha256').update(Buffer.of(0)).digest());
    assert.equal(emptyRoot.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let size = 0; size <= leaves.length; size++) assert.ok(rootOf(leaves.slice(0, size)).equals(root(size)), `size ${size}`);
  });

  it('gives inclusion proofs that verify for every leaf of every size, and fail for another leaf, index or root', () => {
    for (let size = 1; size <= leaves.length; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(BigInt(index), BigInt(size), hashOf);
        assert.ok(verifyInclusion(leaves[index]!, BigInt(index), BigInt(size), proof, root(size)), `${index} in ${size}`);
        if (size > 1) {
          assert.ok(!verifyInclusion(leaves[(index + 1) % size]!, BigInt(index), BigInt(size), proof, root(size)));
          assert.ok(!verifyInclusion(leaves[index]!, BigInt((index + 1) % size), BigInt(size), proof, root(size)));
        }
        assert.ok(!verifyInclusion(leaves[index]!, BigInt(index), BigInt(size), proof, root(size - 1)));
      }
    }
  });

  it('gives consistency proofs that verify between every two sizes, and fail for a changed tree', () => {
    for (let to = 1; to <= leaves.length; to++) {
      for (let from = 1; from <= to; from++) {
        const proof = consistencyProof(BigInt(from), BigInt(to), hashOf);
        assert.ok(verifyConsistency(BigInt(from), BigInt(to), proof, root(from), root(to)), `${from} → ${to}`);
        if (from < to) {
          const altered = referenceRoot([...leaves.slice(0, from - 1), leafHash(Buffer.from('forged')), ...leaves.slice(from, to)]);
          assert.ok(!verifyConsistency(BigInt(from), BigInt(to), proof, root(from), altered), `${from} → ${to} altered`);
          if (proof.length > 0) {
            const bent = proof.map((hash, i) => (i === 0 ? leafHash(hash) : hash));
            assert.ok(!verifyConsistency(BigInt(from), BigInt(to), bent, root(from), root(to)));
          }
        }
      }
    }
  });
});

describe('checkpoints (C2SP tlog-checkpoint, signed note, Ed25519)', () => {
  const signer = parseSignerKey(generateSignerKey('example.org/audit'));
  const verifier = parseVerifierKey(signer.text);

  it('are origin, size and base64 root, a blank line and one signature line, and open with the public key only', () => {
    const note = signCheckpoint(signer, 21n, root(21));
    assert.match(note, /^example\.org\/audit\n21\n[A-Za-z0-9+/]{43}=\n\n— example\.org\/audit [A-Za-z0-9+/]{91}=\n$/);
    const checkpoint = openCheckpoint(note, verifier);
    assert.deepEqual([checkpoint.origin, checkpoint.size], ['example.org/audit', 21n]);
    assert.ok(checkpoint.root.equals(root(21)));
  });

  it('refuse a changed size or root, a signature by another key of the same name, and a verifier key whose id does not match', () => {
    const note = signCheckpoint(signer, 21n, root(21));
    assert.throws(() => openCheckpoint(note.replace('\n21\n', '\n20\n'), verifier), CheckpointError);
    assert.throws(() => openCheckpoint(note.replace(root(21).toString('base64'), root(20).toString('base64')), verifier), /wrong signature/);
    const impostor = parseSignerKey(generateSignerKey('example.org/audit'));
    assert.throws(() => openCheckpoint(signCheckpoint(impostor, 21n, root(21)), verifier), /wrong signature/);
    // The base64 key may itself hold '+': only the first two separate fields.
    const [name, , ...key] = verifier.text.split('+');
    assert.throws(() => parseVerifierKey(`${name}+00000000+${key.join('+')}`), /does not match/);
  });
});

describe('the canonical encoding of an entry (the leaf content)', () => {
  const record: AuditRecord = {
    id: '7b0c6f1e-2f4d-4c59-9d3c-4b7f6f0e8a11',
    recordedAt: new Date('2026-11-30T08:15:42.123Z'),
    actorSubject: 'dr-carter',
    actorRoles: ['clinician'],
    action: 'patient.read',
    outcome: 'SUCCESS',
    resourceType: 'Patient',
    resourceIds: ['p-1'],
    patientIds: ['p-1'],
    purposeOfUse: 'TREAT',
    breakGlass: false,
    reason: null,
    requestId: 'c0ffee00-0000-4000-8000-000000000001',
    clientRequestId: null,
    operationName: 'ChartView',
    queryHash: 'ab'.repeat(32),
    clientAddress: '127.0.0.1',
    userAgent: 'ward-tablet/2.1',
    additionalEntities: [],
  };
  // Format 1, byte for byte, as entries were encoded before the client request id existed.
  const formatOne =
    '["clinigraph-audit/1","7b0c6f1e-2f4d-4c59-9d3c-4b7f6f0e8a11","2026-11-30T08:15:42.123Z","dr-carter",["clinician"],"patient.read","SUCCESS",' +
    `"Patient",["p-1"],["p-1"],"TREAT",false,null,"c0ffee00-0000-4000-8000-000000000001","ChartView","${'ab'.repeat(32)}","127.0.0.1","ward-tablet/2.1"]`;

  it('encodes an entry without a client request id exactly as format 1 did, so earlier trees and checkpoints still verify', () => {
    assert.equal(canonicalAuditRecord(record).toString(), formatOne);
  });

  it('encodes one with a client request id as format 2, the id last, so the leaf covers it', () => {
    const encoded = canonicalAuditRecord({ ...record, clientRequestId: 'trace-42' }).toString();
    assert.equal(encoded, formatOne.replace('clinigraph-audit/1', 'clinigraph-audit/2').replace(/\]$/, ',"trace-42"]'));
    assert.notDeepEqual(leafHash(Buffer.from(encoded)), leafHash(Buffer.from(formatOne)));
  });

  it('encodes one that names other kinds of data as format 3: the client request id, then each entity as [action, resourceType, ids]', () => {
    const additionalEntities = [{ action: 'case.read', resourceType: 'Case', resourceIds: ['c-1', 'c-2'] }];
    const encoded = canonicalAuditRecord({ ...record, additionalEntities }).toString();
    const tail = ',null,[["case.read","Case",["c-1","c-2"]]]]';
    assert.equal(encoded, formatOne.replace('clinigraph-audit/1', 'clinigraph-audit/3').replace(/\]$/, tail));
    // As the database hands it back (JSON, keys in its own order), the same bytes.
    const readBack = JSON.parse(JSON.stringify([{ resourceIds: ['c-1', 'c-2'], resourceType: 'Case', action: 'case.read' }]));
    assert.equal(canonicalAuditRecord({ ...record, additionalEntities: readBack }).toString(), encoded);
    // Any change to an entity, or a value that is not a list of entities, is another leaf.
    for (const changed of [[{ ...additionalEntities[0], resourceIds: ['c-1'] }], [{ ...additionalEntities[0], note: 'x' }], {}, null]) {
      assert.notEqual(canonicalAuditRecord({ ...record, additionalEntities: changed }).toString(), encoded, JSON.stringify(changed));
    }
  });
});
