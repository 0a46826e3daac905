/**
 * Merkle tree hashing in the style of RFC 6962 / RFC 9162 (Certificate Transparency): leaf hash =
 * H(0x00 || entry), node hash = H(0x01 || left || right), the tree of n leaves splitting at the largest
 * power of two below n; and the checks of proofs. The tree itself is read through its tiles (tiles.ts).
 * Pure: the SHA-256 implementation is passed in (node:crypto in the relay, the client and the verifier).
 */
export type Hash = (data: Uint8Array) => Uint8Array;

/** Scratch space for node hashes (0x01 || left || right), reused: hashing is synchronous. */
const scratch = new Uint8Array(65);

export function leafHash(hash: Hash, entry: Uint8Array): Uint8Array {
  const data = new Uint8Array(entry.length + 1);
  data[0] = 0x00;
  data.set(entry, 1);
  return hash(data);
}

export function nodeHash(hash: Hash, left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32) throw new Error('node hashes are 32 bytes');
  scratch[0] = 0x01;
  scratch.set(left, 1);
  scratch.set(right, 33);
  return hash(scratch);
}

/** a[i], which the caller knows exists (a bug if not: thrown, never a silent undefined). */
export function item<T>(a: readonly T[], i: number): T {
  const v = a[i];
  if (v === undefined) throw new RangeError(`index ${i} outside 0..${a.length - 1}`);
  return v;
}

/** The largest power of two strictly below n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Recomputes the root from the selected leaves (in index order) and one combined proof of them (the roots of
 * the subtrees that hold none of them, left to right): how bundles of proof version 1 proved their records.
 * Null when they do not fit. Bundles of version 2 ship the tree's tiles instead (tiles.ts).
 */
export function rootFromMultiProof(hash: Hash, n: number, indices: readonly number[], leaves: readonly Uint8Array[], proof: readonly Uint8Array[]): Uint8Array | null {
  if (indices.length !== leaves.length) return null;
  for (let i = 0; i < indices.length; i++) {
    const index = item(indices, i);
    if (!Number.isInteger(index) || index < 0 || index >= n || (i > 0 && index <= item(indices, i - 1))) return null;
  }
  let next = 0;
  let failed = false;
  const walk = (lo: number, hi: number, first: number, last: number): Uint8Array => {
    if (first === last) {
      const h = proof[next++];
      if (!h) failed = true;
      return h ?? new Uint8Array(32);
    }
    if (hi - lo === 1) return item(leaves, first);
    const mid = lo + split(hi - lo);
    let m = first;
    while (m < last && item(indices, m) < mid) m++;
    return nodeHash(hash, walk(lo, mid, first, m), walk(mid, hi, m, last));
  };
  if (n === 0) return leaves.length === 0 && proof.length === 0 ? hash(new Uint8Array(0)) : null;
  const root = walk(0, n, 0, indices.length);
  return failed || next !== proof.length ? null : root;
}

/** RFC 9162 2.1.4.2: whether `proof` shows the tree (m, oldRoot) is a prefix of the tree (n, newRoot). */
export function verifyConsistency(hash: Hash, m: number, n: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (m === n) return proof.length === 0 && equal(oldRoot, newRoot);
  if (m === 0 || m > n) return false;
  let path = [...proof];
  if (isPowerOfTwo(m)) path = [oldRoot, ...path];
  if (path.length === 0) return false;
  let fn = m - 1;
  let sn = n - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = item(path, 0);
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn & 1 || fn === sn) {
      fr = nodeHash(hash, c, fr);
      sr = nodeHash(hash, c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = nodeHash(hash, sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot);
}

function isPowerOfTwo(x: number): boolean {
  return x > 0 && (x & (x - 1)) === 0;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
