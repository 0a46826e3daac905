/**
 * A Merkle tree over an append-only log in the style of RFC 6962 / RFC 9162 (Certificate Transparency):
 * leaf hash = H(0x00 || entry), node hash = H(0x01 || left || right), the tree of n leaves splitting at
 * the largest power of two below n. Pure: the SHA-256 implementation is passed in (node:crypto in the
 * relay, the client and the verifier), so the same code builds and checks proofs everywhere.
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
 * The tree over a list of leaf hashes, with the hash of every complete subtree remembered, so roots of
 * prefixes and proofs are computed without hashing the leaves again.
 */
export class MerkleTree {
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

/** Recomputes the root from the selected leaves (in index order) and a multiProof; null when they do not fit. */
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
