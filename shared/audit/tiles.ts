/**
 * The audit log's Merkle tree (RFC 9162 section 2.1) stored and shipped as C2SP tlog-tiles
 * (https://c2sp.org/tlog-tiles): a tile at level L, index N holds the hashes of up to 256 consecutive
 * tree nodes at height 8·L, starting with node 256·N; the last tile of a level may be partial (width W < 256).
 *
 *   tile/<L>/<N>[.p/<W>]   N as 3-digit path elements, all but the last prefixed with `x` (1234067 -> x001/x234/067)
 *
 * Level-0 tiles are the leaf hashes; a level L+1 entry is the root of one full level-L tile. Any node, any
 * range's hash, the root of any size and RFC 9162 inclusion and consistency proofs follow from the tiles
 * of the current size, so the relay keeps the tiles as its log grows (never recomputed per export) and a
 * bundle ships them: a standard verifier (Go's `tlog.TileHashReader` + `tlog.CheckRecord`) reads them as they are.
 * Pure: SHA-256 is passed in.
 */
import { concatBytes } from './checkpoint';
import { equal, leafHash, nodeHash, type Hash } from './merkle';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
const HASH_BYTES = 32;

export interface TileRef {
  readonly level: number;
  readonly index: number;
  /** How many hashes it holds (TILE_WIDTH for a full tile). */
  readonly width: number;
}

/** The C2SP tlog-tiles path of a tile. */
export function tilePath(tile: TileRef): string {
  let n = tile.index;
  const parts: string[] = [];
  do {
    parts.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  const encoded = parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join('/');
  return `tile/${tile.level}/${encoded}${tile.width < TILE_WIDTH ? `.p/${tile.width}` : ''}`;
}

/** The tiles of a tree of `size` leaves: every full tile of every level, and each level's partial tile. */
export function* tilesOfTree(size: number): Generator<TileRef> {
  for (let level = 0, nodes = size; nodes > 0; level++, nodes = Math.floor(nodes / TILE_WIDTH)) {
    const full = Math.floor(nodes / TILE_WIDTH);
    for (let index = 0; index < full; index++) yield { level, index, width: TILE_WIDTH };
    if (nodes % TILE_WIDTH > 0) yield { level, index: full, width: nodes % TILE_WIDTH };
  }
}

/** Where the tiles of a tree come from: the relay's database, or a bundle's files. `null` when missing. */
export type TileSource = (tile: TileRef) => Uint8Array | null;

/** The hash of an 8-level subtree from its 2^k bottom hashes (k ≤ 8): a tile's root, or part of one. */
function hashUp(hash: Hash, hashes: Uint8Array, from: number, count: number): Uint8Array {
  let level: Uint8Array[] = [];
  for (let i = 0; i < count; i++) level.push(hashes.subarray((from + i) * HASH_BYTES, (from + i + 1) * HASH_BYTES));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(hash, level[i] as Uint8Array, level[i + 1] as Uint8Array));
    level = next;
  }
  return level[0] ?? hash(new Uint8Array(0));
}

export class TreeUnavailable extends Error {
  constructor(readonly tile: TileRef) {
    super(`the tree's tile ${tilePath(tile)} is missing or too short`);
    this.name = 'TreeUnavailable';
  }
}

/**
 * Reads a tree of `size` leaves through its tiles: nodes, roots of prefixes, RFC 9162 proofs. Node hashes
 * below a tile level are computed from the tile beneath (at most 255 hashes each); tiles read are kept.
 */
export class TileTree {
  readonly #hash: Hash;
  readonly #source: TileSource;
  /** Tiles read, by level and index (index * 64 + level). */
  readonly #tiles = new Map<number, Uint8Array>();
  readonly size: number;

  constructor(hash: Hash, size: number, source: TileSource) {
    this.#hash = hash;
    this.size = size;
    this.#source = source;
  }

  #tile(level: number, index: number): Uint8Array {
    const nodes = Math.floor(this.size / TILE_WIDTH ** level);
    const width = Math.min(TILE_WIDTH, nodes - index * TILE_WIDTH);
    const key = index * 64 + level;
    let tile = this.#tiles.get(key);
    if (!tile) {
      const ref = { level, index, width };
      tile = width > 0 ? this.#source(ref) ?? undefined : undefined;
      if (!tile || tile.length < width * HASH_BYTES) throw new TreeUnavailable(ref);
      if (this.#tiles.size > 4096) this.#tiles.clear();
      this.#tiles.set(key, tile);
    }
    return tile;
  }

  /** The hash of the complete node at `height` (0 = leaves) and `index`. */
  node(height: number, index: number): Uint8Array {
    const level = Math.floor(height / TILE_HEIGHT);
    const below = height - level * TILE_HEIGHT;
    const first = index * 2 ** below;
    const tile = this.#tile(level, Math.floor(first / TILE_WIDTH));
    const offset = first % TILE_WIDTH;
    return below === 0 ? tile.subarray(offset * HASH_BYTES, (offset + 1) * HASH_BYTES) : hashUp(this.#hash, tile, offset, 2 ** below);
  }

  /** The leaf hash of record `index` (0-based). */
  leaf(index: number): Uint8Array {
    return this.node(0, index);
  }

  /** MTH(D[lo:hi]) for the ranges RFC 9162's algorithms visit (lo a multiple of the largest power of two below hi - lo). */
  rangeHash(lo: number, hi: number): Uint8Array {
    const n = hi - lo;
    if (n === 0) return this.#hash(new Uint8Array(0));
    if ((n & (n - 1)) === 0 && lo % n === 0) return this.node(Math.log2(n), lo / n);
    const k = largestPowerOfTwoBelow(n);
    return nodeHash(this.#hash, this.rangeHash(lo, lo + k), this.rangeHash(lo + k, hi));
  }

  /** The root of the tree of the first `n` leaves (n ≤ size). */
  root(n = this.size): Uint8Array {
    return this.rangeHash(0, n);
  }

  /** RFC 9162 2.1.3.1 PATH(m, D[0:n]): the inclusion proof of leaf m in the tree of size n. */
  inclusionProof(m: number, n = this.size): Uint8Array[] {
    const path = (m: number, lo: number, hi: number): Uint8Array[] => {
      if (hi - lo <= 1) return [];
      const k = largestPowerOfTwoBelow(hi - lo);
      return m < k ? [...path(m, lo, lo + k), this.rangeHash(lo + k, hi)] : [...path(m - k, lo + k, hi), this.rangeHash(lo, lo + k)];
    };
    return path(m, 0, n);
  }

  /** RFC 9162 2.1.4.1 PROOF(m, D[0:n]): that the tree of size m is a prefix of the one of size n. */
  consistencyProof(m: number, n = this.size): Uint8Array[] {
    const subproof = (m: number, lo: number, hi: number, complete: boolean): Uint8Array[] => {
      if (m === hi - lo) return complete ? [] : [this.rangeHash(lo, hi)];
      const k = largestPowerOfTwoBelow(hi - lo);
      if (m <= k) return [...subproof(m, lo, lo + k, complete), this.rangeHash(lo + k, hi)];
      return [...subproof(m - k, lo + k, hi, false), this.rangeHash(lo, lo + k)];
    };
    return m <= 0 || m >= n ? [] : subproof(m, 0, n, true);
  }
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 9162 2.1.3.2: whether `proof` shows leaf `index` (hash `leaf`) is in the tree (size, root). */
export function verifyInclusion(hash: Hash, index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (index >= size || index < 0) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(hash, p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else r = nodeHash(hash, r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

/**
 * Grows a tree's tiles leaf by leaf. Starts from the partial tiles of the tree so far (none for an empty
 * tree); each tile that fills up is handed to `full` once, and `partials()` gives the ones in progress.
 */
export class TileWriter {
  readonly #hash: Hash;
  /** Per level: the partial tile's hashes so far, and that tile's index. */
  readonly #levels: { index: number; hashes: Uint8Array[] }[] = [];
  readonly #full: (tile: TileRef, hashes: Uint8Array) => void;
  #size: number;

  constructor(hash: Hash, size: number, partials: readonly { tile: TileRef; hashes: Uint8Array }[], full: (tile: TileRef, hashes: Uint8Array) => void) {
    this.#hash = hash;
    this.#size = size;
    this.#full = full;
    for (let level = 0, nodes = size; nodes > 0 || level === 0; level++, nodes = Math.floor(nodes / TILE_WIDTH)) {
      const width = nodes % TILE_WIDTH;
      const partial = partials.find((p) => p.tile.level === level);
      if (width > 0 && (!partial || partial.tile.width !== width || partial.hashes.length < width * HASH_BYTES)) throw new TreeUnavailable({ level, index: Math.floor(nodes / TILE_WIDTH), width });
      this.#levels[level] = { index: Math.floor(nodes / TILE_WIDTH), hashes: width > 0 && partial ? split(partial.hashes, width) : [] };
      if (nodes === 0) break;
    }
  }

  get size(): number {
    return this.#size;
  }

  /** Appends one record, given its exact bytes (the leaf is H(0x00 || entry)). */
  addEntry(entry: Uint8Array): void {
    this.addLeafHash(leafHash(this.#hash, entry));
  }

  addLeafHash(leaf: Uint8Array): void {
    let hash = leaf;
    for (let level = 0; ; level++) {
      const state = (this.#levels[level] ??= { index: 0, hashes: [] });
      state.hashes.push(hash);
      if (state.hashes.length < TILE_WIDTH) break;
      const bytes = concatBytes(state.hashes);
      this.#full({ level, index: state.index, width: TILE_WIDTH }, bytes);
      hash = hashUp(this.#hash, bytes, 0, TILE_WIDTH);
      state.index++;
      state.hashes = [];
    }
    this.#size++;
  }

  /** The partial tiles now (the last tile of each level that is not full), lowest level first. */
  partials(): { tile: TileRef; hashes: Uint8Array }[] {
    return this.#levels.flatMap((s, level) => (s.hashes.length > 0 ? [{ tile: { level, index: s.index, width: s.hashes.length }, hashes: concatBytes(s.hashes) }] : []));
  }
}

function split(bytes: Uint8Array, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => bytes.slice(i * HASH_BYTES, (i + 1) * HASH_BYTES));
}

/** All tiles of a small tree held in memory (a workstation's log): built from its entries. */
export function tilesInMemory(hash: Hash, entries: Iterable<Uint8Array>): { size: number; tiles: Map<string, Uint8Array>; source: TileSource } {
  const tiles = new Map<string, Uint8Array>();
  const writer = new TileWriter(hash, 0, [], (tile, bytes) => tiles.set(tilePath(tile), bytes));
  for (const entry of entries) writer.addEntry(entry);
  for (const { tile, hashes } of writer.partials()) tiles.set(tilePath(tile), hashes);
  return { size: writer.size, tiles, source: (tile) => tiles.get(tilePath(tile)) ?? null };
}

/**
 * Checks a tree's tiles as they are read, level by level in tilesOfTree order: each with the right width,
 * each entry above level 0 the root of the full tile beneath it. The relay runs it over its stored tiles
 * before it signs a checkpoint over them; the verifier over a bundle's.
 */
export class TileConsistency {
  readonly #hash: Hash;
  readonly #problems: string[] = [];
  #level = 0;
  #rootsBelow: Uint8Array[] = [];
  #rootsHere: Uint8Array[] = [];

  constructor(hash: Hash) {
    this.#hash = hash;
  }

  /** The next tile (null: missing). */
  add(ref: TileRef, tile: Uint8Array | null): void {
    if (this.#problems.length > 10) return;
    if (ref.level !== this.#level) {
      this.#level = ref.level;
      this.#rootsBelow = this.#rootsHere;
      this.#rootsHere = [];
    }
    if (!tile || tile.length !== ref.width * HASH_BYTES) {
      this.#problems.push(`${tilePath(ref)} is ${tile ? `${tile.length} bytes, not ${ref.width * HASH_BYTES}` : 'missing'}`);
      return;
    }
    for (let i = 0; ref.level > 0 && i < ref.width; i++) {
      const expected = this.#rootsBelow[ref.index * TILE_WIDTH + i];
      if (!expected || !equal(expected, tile.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) {
        this.#problems.push(`${tilePath(ref)} entry ${i} is not the root of the tile beneath it`);
        break;
      }
    }
    if (ref.width === TILE_WIDTH) this.#rootsHere.push(hashUp(this.#hash, tile, 0, TILE_WIDTH));
  }

  problems(): string[] {
    return this.#problems.length > 10 ? [...this.#problems.slice(0, 10), '... and possibly more tiles that do not hold'] : [...this.#problems];
  }
}

/** Checks a set of tiles for a tree of `size` leaves against its signed `root` (TileConsistency, then the root). */
export function checkTiles(hash: Hash, size: number, root: Uint8Array, source: TileSource): string[] {
  const consistency = new TileConsistency(hash);
  for (const ref of tilesOfTree(size)) consistency.add(ref, source(ref));
  const problems = consistency.problems();
  if (problems.length === 0 && !equal(new TileTree(hash, size, source).root(), root)) problems.push("the tiles do not give the checkpoint's root hash");
  return problems;
}
