import { hash } from 'node:crypto';

/*
 * The Merkle tree of RFC 9162 (Certificate Transparency 2.0, section 2.1),
 * the same as RFC 6962's: a leaf hashes as SHA-256(0x00 || entry), an inner
 * node as SHA-256(0x01 || left || right), and a tree of n leaves splits at the
 * largest power of two below n. Pure functions only: the sequencer, the proof
 * service and the offline verifier all use these, and the verifier needs
 * nothing else (node:crypto).
 */

export type Hash = Buffer;

// One-shot hashing: half the time of a createHash object for inputs this small.
const sha256 = (...parts: Uint8Array[]): Hash => hash('sha256', Buffer.concat(parts), 'buffer');

/** MTH({}) : the root of the empty tree. */
export const emptyRoot: Hash = sha256();
export const leafHash = (entry: Uint8Array): Hash => sha256(Buffer.of(0x00), entry);
export const nodeHash = (left: Hash, right: Hash): Hash => sha256(Buffer.of(0x01), left, right);

/** The largest power of two strictly below n (n > 1). */
function splitPoint(n: bigint): bigint {
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

/**
 * The root of a list of leaf hashes (MTH). Bottom-up, so a verifier can
 * recompute the roots of a million entries in memory.
 */
export function rootOf(leaves: readonly Hash[]): Hash {
  const range = new CompactRange();
  for (const leaf of leaves) range.append(leaf);
  return range.root();
}

/** A stored node of a perfect subtree: level 0 is a leaf; index counts nodes of that level from the left. */
export interface TreeNode {
  level: number;
  index: bigint;
  hash: Hash;
}

/**
 * The right edge of a tree (RFC 9162's "compact range"): the roots of the
 * perfect subtrees that cover leaves [0, size), largest first. Appending a
 * leaf merges equal-sized subtrees and returns the nodes that became complete,
 * which the sequencer stores so that any proof needs only stored nodes.
 */
export class CompactRange {
  constructor(
    private size = 0n,
    private readonly edge: Hash[] = [],
  ) {}

  get treeSize(): bigint {
    return this.size;
  }

  clone(): CompactRange {
    return new CompactRange(this.size, [...this.edge]);
  }

  /** Adds a leaf; returns it and every inner node it completed. */
  append(leaf: Hash): TreeNode[] {
    const completed: TreeNode[] = [{ level: 0, index: this.size, hash: leaf }];
    let hash = leaf;
    let index = this.size;
    let level = 0;
    while ((index & 1n) === 1n) {
      hash = nodeHash(this.edge.pop()!, hash);
      index >>= 1n;
      level += 1;
      completed.push({ level, index, hash });
    }
    this.edge.push(hash);
    this.size += 1n;
    return completed;
  }

  root(): Hash {
    if (this.edge.length === 0) return emptyRoot;
    let root = this.edge[this.edge.length - 1]!;
    for (let i = this.edge.length - 2; i >= 0; i--) root = nodeHash(this.edge[i]!, root);
    return root;
  }
}

/** The perfect subtrees (level, index) whose roots make up the right edge of a tree of `size` leaves, largest first. */
export function edgeNodes(size: bigint): { level: number; index: bigint }[] {
  const nodes: { level: number; index: bigint }[] = [];
  let start = 0n;
  for (let level = 63; level >= 0; level--) {
    const width = 1n << BigInt(level);
    if ((size & width) !== 0n) {
      nodes.push({ level, index: start >> BigInt(level) });
      start += width;
    }
  }
  return nodes;
}

/**
 * Hashes of subtrees [start, end) of one tree. Proofs are written against
 * this, so the same algorithm runs on stored nodes (proof service) and on
 * leaves in memory (tests).
 */
export type RangeHasher = (start: bigint, end: bigint) => Hash;

/** RFC 9162 2.1.3.1 PATH(m, D[n]): the inclusion proof of leaf m in a tree of n leaves. */
export function inclusionProof(index: bigint, size: bigint, hashOf: RangeHasher): Hash[] {
  if (index < 0n || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  const path = (m: bigint, start: bigint, n: bigint): Hash[] => {
    if (n === 1n) return [];
    const k = splitPoint(n);
    return m < k ? [...path(m, start, k), hashOf(start + k, start + n)] : [...path(m - k, start + k, n - k), hashOf(start, start + k)];
  };
  return path(index, 0n, size);
}

/** RFC 9162 2.1.4.1 PROOF(m, D[n]): the consistency proof between a tree of m leaves and one of n. */
export function consistencyProof(m: bigint, n: bigint, hashOf: RangeHasher): Hash[] {
  if (m < 0n || m > n) throw new RangeError(`no consistency proof from ${m} to ${n}`);
  if (m === 0n || m === n) return [];
  const subproof = (m: bigint, start: bigint, n: bigint, complete: boolean): Hash[] => {
    if (m === n) return complete ? [] : [hashOf(start, start + n)];
    const k = splitPoint(n);
    return m <= k
      ? [...subproof(m, start, k, complete), hashOf(start + k, start + n)]
      : [...subproof(m - k, start + k, n - k, false), hashOf(start, start + k)];
  };
  return subproof(m, 0n, n, true);
}

/**
 * The perfect subtrees whose stored hashes give the hash of [start, end):
 * the range split at powers of two (at most two per level).
 */
export function perfectCover(start: bigint, end: bigint): { level: number; index: bigint }[] {
  const n = end - start;
  if (n <= 0n) return [];
  if ((n & (n - 1n)) === 0n && start % n === 0n) return [{ level: n.toString(2).length - 1, index: start / n }];
  const k = splitPoint(n);
  return [...perfectCover(start, start + k), ...perfectCover(start + k, end)];
}

/** The hash of [start, end) from stored perfect-subtree hashes (keyed `level/index`). */
export function hashFromNodes(nodes: ReadonlyMap<string, Hash>): RangeHasher {
  const hashOf = (start: bigint, end: bigint): Hash => {
    const n = end - start;
    if ((n & (n - 1n)) === 0n && start % n === 0n) {
      const key = nodeKey(n.toString(2).length - 1, start / n);
      const hash = nodes.get(key);
      if (!hash) throw new Error(`tree node ${key} is missing`);
      return hash;
    }
    const k = splitPoint(n);
    return nodeHash(hashOf(start, start + k), hashOf(start + k, end));
  };
  return hashOf;
}

export const nodeKey = (level: number, index: bigint) => `${level}/${index}`;

/** The stored nodes a proof needs: runs the proof against a recorder that lists every range it asks for. */
export function nodesNeeded(prove: (hashOf: RangeHasher) => unknown): { level: number; index: bigint }[] {
  const needed = new Map<string, { level: number; index: bigint }>();
  prove((start, end) => {
    for (const node of perfectCover(start, end)) needed.set(nodeKey(node.level, node.index), node);
    return emptyRoot;
  });
  return [...needed.values()];
}

/** RFC 9162 2.1.3.2: does `proof` show that `leaf` is leaf `index` of the tree of `size` with `root`? */
export function verifyInclusion(leaf: Hash, index: bigint, size: bigint, proof: readonly Hash[], root: Hash): boolean {
  if (index >= size || index < 0n) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && r.equals(root);
}

/** RFC 9162 2.1.4.2: does `proof` show that the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: bigint, size2: bigint, proof: readonly Hash[], root1: Hash, root2: Hash): boolean {
  if (size1 > size2 || size1 < 0n) return false;
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0n) return proof.length === 0;
  if (proof.length === 0) return false;
  // A first tree that is a perfect subtree on the left edge is its own first proof node.
  const path = (size1 & (size1 - 1n)) === 0n ? [root1, ...proof] : [...proof];
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && fr.equals(root1) && sr.equals(root2);
}
