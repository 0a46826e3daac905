import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { item, leafHash, nodeHash, rootFromMultiProof, verifyConsistency, type Hash } from './merkle';

const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(sha256, new TextEncoder().encode(`record ${i}`)));

/** MTH straight from RFC 6962 section 2.1, without memoisation. */
function naiveRoot(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return sha256(new Uint8Array(0));
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(sha256, naiveRoot(hashes.slice(0, k)), naiveRoot(hashes.slice(k)));
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Reference prover (what exports of proof version 1 were built with): the tree over a list of leaf hashes, with the hash of every complete subtree remembered, so roots of
 * prefixes and proofs are computed without hashing the leaves again.
 */
class MerkleTree {
  readonly #hash: Hash;
  readonly #leaves: readonly Uint8Array[];
  readonly #memo = new Map<string, Uint8Array>();

  constructor(hash: Hash, leafHashes: readonly Uint8Array[]) {
    this.#hash = hash;
    this.#leaves = leafHashes;
  }

  get size(): number {
    return this.#leaves.length;
  }

  /** MTH(D[lo:hi]). The empty tree's root is H(""). */
  root(lo = 0, hi = this.#leaves.length): Uint8Array {
    if (hi - lo === 0) return this.#hash(new Uint8Array(0));
    if (hi - lo === 1) return item(this.#leaves, lo);
    // Subtrees of 16 leaves or more are remembered (a million-leaf log keeps ~130,000 of them).
    const remember = hi - lo >= 16;
    const key = `${lo}:${hi}`;
    const known = remember ? this.#memo.get(key) : undefined;
    if (known) return known;
    const k = split(hi - lo);
    const value = nodeHash(this.#hash, this.root(lo, lo + k), this.root(lo + k, hi));
    if (remember) this.#memo.set(key, value);
    return value;
  }

  /**
   * A proof that the leaves at `indices` (sorted, distinct) are in the tree of size `n`: the roots of the
   * subtrees that hold none of them, left to right. With the leaves themselves, it gives back the root.
   */
  multiProof(indices: readonly number[], n = this.#leaves.length): Uint8Array[] {
    const out: Uint8Array[] = [];
    const walk = (lo: number, hi: number, first: number, last: number) => {
      // indices[first..last) fall in [lo, hi)
      if (first === last) {
        out.push(this.root(lo, hi));
        return;
      }
      if (hi - lo === 1) return;
      const mid = lo + split(hi - lo);
      let m = first;
      while (m < last && item(indices, m) < mid) m++;
      walk(lo, mid, first, m);
      walk(mid, hi, m, last);
    };
    if (n > 0) walk(0, n, 0, indices.length);
    return out;
  }

  /** RFC 6962 PROOF(m, D[n]): that the tree of size m is a prefix of this one (size n). */
  consistencyProof(m: number, n = this.#leaves.length): Uint8Array[] {
    const subproof = (m: number, lo: number, hi: number, complete: boolean): Uint8Array[] => {
      const size = hi - lo;
      if (m === size) return complete ? [] : [this.root(lo, hi)];
      const k = split(size);
      if (m <= k) return [...subproof(m, lo, lo + k, complete), this.root(lo + k, hi)];
      return [...subproof(m - k, lo + k, hi, false), this.root(lo, lo + k)];
    };
    if (m <= 0 || m >= n) return [];
    return subproof(m, 0, n, true);
  }
}

describe('RFC 6962 Merkle tree', () => {
  it('matches the RFC definitions, including the known empty-tree and empty-leaf hashes', () => {
    expect(hex(new MerkleTree(sha256, []).root())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(leafHash(sha256, new Uint8Array(0)))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    for (let n = 1; n <= 40; n++) expect(hex(new MerkleTree(sha256, leaves(n)).root())).toBe(hex(naiveRoot(leaves(n))));
  });

  it('proves any set of leaves, and refuses altered, missing or misplaced ones', () => {
    for (let n = 1; n <= 20; n++) {
      const all = leaves(n);
      const tree = new MerkleTree(sha256, all);
      for (const indices of [[0], [n - 1], Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 1)]) {
        if (indices.length === 0) continue;
        const proof = tree.multiProof(indices);
        const chosen = indices.map((i) => all[i]!);
        expect(hex(rootFromMultiProof(sha256, n, indices, chosen, proof)!)).toBe(hex(tree.root()));
        const altered = [...chosen];
        altered[0] = leafHash(sha256, new Uint8Array([9]));
        expect(hex(rootFromMultiProof(sha256, n, indices, altered, proof) ?? new Uint8Array())).not.toBe(hex(tree.root()));
        if (indices.length > 1) expect(rootFromMultiProof(sha256, n, indices.slice(1), chosen.slice(1), proof)).not.toEqual(tree.root());
      }
    }
  });

  it('proves every prefix consistent with every larger tree, and not a rewritten one', () => {
    for (let n = 2; n <= 24; n++) {
      const tree = new MerkleTree(sha256, leaves(n));
      for (let m = 1; m <= n; m++) {
        const old = new MerkleTree(sha256, leaves(m)).root();
        expect(verifyConsistency(sha256, m, n, old, tree.root(), tree.consistencyProof(m)), `${m} -> ${n}`).toBe(true);
        const rewritten = new MerkleTree(sha256, [leafHash(sha256, new Uint8Array([1])), ...leaves(m).slice(1)]).root();
        if (m < n) expect(verifyConsistency(sha256, m, n, rewritten, tree.root(), tree.consistencyProof(m))).toBe(false);
      }
    }
  });
});
