import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MerkleTree, leafHash, nodeHash, rootFromMultiProof, verifyConsistency } from './merkle';

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
