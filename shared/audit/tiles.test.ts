import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { leafHash, nodeHash, verifyConsistency } from './merkle';
import { TILE_WIDTH, TileTree, TileWriter, checkTiles, tilePath, tilesInMemory, tilesOfTree, verifyInclusion, type TileRef } from './tiles';

const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** MTH straight from RFC 9162 section 2.1.1, over leaf hashes. */
function naiveRoot(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return sha256(new Uint8Array(0));
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(sha256, naiveRoot(hashes.slice(0, k)), naiveRoot(hashes.slice(k)));
}
const entries = (n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`record ${i}`));

describe('C2SP tlog-tiles', () => {
  it('names tiles as the spec does', () => {
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe('tile/0/x001/x234/067');
    expect(tilePath({ level: 1, index: 5, width: 7 })).toBe('tile/1/005.p/7');
    expect(tilePath({ level: 2, index: 1000, width: 256 })).toBe('tile/2/x001/000');
    expect([...tilesOfTree(256 * 256 + 3)].map(tilePath)).toEqual([...Array.from({ length: 256 }, (_, i) => tilePath({ level: 0, index: i, width: 256 })), 'tile/0/256.p/3', 'tile/1/000', 'tile/2/000.p/1']);
    expect([...tilesOfTree(0)]).toEqual([]);
  });

  it('gives the RFC 9162 root, inclusion and consistency proofs of every size, as a tree in memory does', () => {
    for (const n of [1, 2, 3, 7, 255, 256, 257, 600, 256 * 3 + 1]) {
      const all = entries(n);
      const { source } = tilesInMemory(sha256, all);
      const tree = new TileTree(sha256, n, source);
      const leaves = all.map((e) => leafHash(sha256, e));
      expect(hex(tree.root())).toBe(hex(naiveRoot(leaves)));
      for (const m of [0, 1, Math.floor(n / 2), n - 1]) {
        if (m < 0 || m >= n) continue;
        const proof = tree.inclusionProof(m);
        expect(verifyInclusion(sha256, m, n, leafHash(sha256, all[m]!), proof, tree.root())).toBe(true);
        expect(verifyInclusion(sha256, m, n, leafHash(sha256, new Uint8Array([9])), proof, tree.root())).toBe(false);
        if (m > 0) expect(verifyConsistency(sha256, m, n, naiveRoot(leaves.slice(0, m)), tree.root(), tree.consistencyProof(m))).toBe(true);
        if (m > 0) expect(hex(tree.root(m))).toBe(hex(naiveRoot(leaves.slice(0, m))));
      }
    }
  });

  it('grows from stored partial tiles exactly as if built at once', () => {
    const all = entries(TILE_WIDTH * 2 + 10);
    const full = new Map<string, Uint8Array>();
    const first = new TileWriter(sha256, 0, [], (t, b) => full.set(tilePath(t), b));
    for (const e of all.slice(0, 300)) first.addEntry(e);
    const second = new TileWriter(sha256, 300, first.partials(), (t, b) => full.set(tilePath(t), b));
    for (const e of all.slice(300)) second.addEntry(e);
    for (const { tile, hashes } of second.partials()) full.set(tilePath(tile), hashes);
    const once = tilesInMemory(sha256, all);
    expect([...full.keys()].sort()).toEqual([...once.tiles.keys()].sort());
    for (const [k, v] of once.tiles) expect(hex(full.get(k)!)).toBe(hex(v));
    expect(() => new TileWriter(sha256, 300, [], () => undefined)).toThrow(/tile\/0\/001\.p\/44/);
  });

  it('finds a missing, short or altered tile, and tiles of another tree', () => {
    const n = TILE_WIDTH * 3 + 5;
    const { tiles } = tilesInMemory(sha256, entries(n));
    const root = new TileTree(sha256, n, (t) => tiles.get(tilePath(t)) ?? null).root();
    const check = (change: (m: Map<string, Uint8Array>) => void) => {
      const copy = new Map(tiles);
      change(copy);
      return checkTiles(sha256, n, root, (t: TileRef) => copy.get(tilePath(t)) ?? null);
    };
    expect(check(() => undefined)).toEqual([]);
    expect(check((m) => m.delete('tile/0/001')).join()).toMatch(/tile\/0\/001 is missing/);
    expect(check((m) => m.set('tile/1/000.p/3', m.get('tile/1/000.p/3')!.slice(0, 64))).join()).toMatch(/64 bytes, not 96/);
    const flip = (m: Map<string, Uint8Array>, name: string, at: number) => {
      const t = m.get(name)!.slice();
      t[at] = t[at]! ^ 1;
      m.set(name, t);
    };
    expect(check((m) => flip(m, 'tile/0/000', 5)).join()).toMatch(/tile\/1\/000\.p\/3 entry 0 is not the root/);
    expect(check((m) => flip(m, 'tile/0/003.p/5', 0)).join()).toMatch(/do not give the checkpoint's root/);
  });
});
