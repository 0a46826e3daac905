import { hash } from 'node:crypto';
import { fromBase64 } from '../../shared/audit/checkpoint';
import { sha256 } from './auditCrypto';
import { detailsJson, relayRecordLine, canonicalRecord } from '../../shared/audit/recordChain';
import { TILE_WIDTH, TileTree, TileWriter, TreeUnavailable, tilePath, type TileRef } from '../../shared/audit/tiles';
import type { AuditRecordFilter, AuditTreeState, RelayStore, StoredTile } from '../storage/RelayStore';
import type { AuditRecord } from './AuditRecord';

/**
 * The relay keeps its audit log's Merkle tree (as C2SP tiles, shared/audit/tiles.ts) in its store, grown
 * from the records appended since it last grew: by the running relay every minute and by each export
 * before it signs, so an export of a year's log hashes only what is new. Growing it also checks each new
 * record's hash chain (once per record, ever); the first break found is kept with the tree, and exports
 * refuse a broken log as they always have.
 */

export { sha256 };
const PAGE = 10_000;

/** A record's exact line in events.jsonl: its Merkle leaf. */
export function recordLine(record: AuditRecord): string {
  return relayRecordLine(record);
}

/** A record's line and whether its own hash holds (growing the tree checks each record's chain once). */
function checkedLine(record: AuditRecord): { line: string; hashHolds: boolean } {
  const details = detailsJson(record.details);
  // Strings straight into the hash (UTF-8 inside it): no encoding copy per record.
  return { line: relayRecordLine(record, details.line), hashHolds: hash('sha256', canonicalRecord(record, details.chain), 'hex') === record.hash };
}

/** RFC 9162 leaf hash of a line: SHA-256(0x00 || UTF-8 line), without copying the line's bytes. */
export function lineLeafHash(line: string): Uint8Array {
  return sha256(`\u0000${line}`);
}

/** The partial tiles of a stored tree of `size` leaves (what growing it starts from). */
async function partialTiles(store: RelayStore, size: number): Promise<{ tile: TileRef; hashes: Uint8Array }[]> {
  const out: { tile: TileRef; hashes: Uint8Array }[] = [];
  for (let level = 0, nodes = size; nodes > 0; level++, nodes = Math.floor(nodes / TILE_WIDTH)) {
    const width = nodes % TILE_WIDTH;
    if (width === 0) continue;
    const index = Math.floor(nodes / TILE_WIDTH);
    const [stored] = await store.auditTiles(level, index, index + 1);
    if (stored) out.push({ tile: { level, index, width }, hashes: stored.hashes.subarray(0, width * 32) });
  }
  return out;
}

/**
 * Grows the stored tree to the end of the log, a page of records at a time, and returns how far it reaches.
 * Safe to run from several processes at once (the relay and an admin command): each page is written only
 * if the tree is still where this run found it.
 */
export async function growAuditTree(store: RelayStore, options: { page?: number; between?: () => Promise<void> } = {}): Promise<AuditTreeState> {
  for (let first = true; ; first = false) {
    // The running relay grows it in small pages and lets requests through in between.
    if (!first && options.between) await options.between();
    const state = await store.auditTree();
    const last = state.firstSeq + state.size - 1;
    const records = await store.auditRecordsAfter(last, options.page ?? PAGE);
    if (records.length === 0) return state;
    const tiles = new Map<string, StoredTile>();
    const writer = new TileWriter(sha256, state.size, await partialTiles(store, state.size), (tile, hashes) => tiles.set(tilePath(tile), { level: tile.level, index: tile.index, hashes }));
    let { head, brokenAt, brokenReason } = state;
    let expected = last + 1;
    for (const record of records) {
      const { line, hashHolds } = checkedLine(record);
      if (brokenAt === null) {
        const reason = record.seq !== expected ? `expected record ${expected}, found ${record.seq}` : record.prevHash !== head ? 'does not link to the previous record' : hashHolds ? null : 'content does not match its hash';
        if (reason) [brokenAt, brokenReason] = [record.seq, reason];
      }
      writer.addLeafHash(lineLeafHash(line));
      head = record.hash;
      expected = record.seq + 1;
    }
    for (const { tile, hashes } of writer.partials()) tiles.set(tilePath(tile), { level: tile.level, index: tile.index, hashes });
    await store.extendAuditTree(state, { firstSeq: state.firstSeq, size: writer.size, head, brokenAt, brokenReason }, [...tiles.values()]);
  }
}

/**
 * Reads the stored tree of `size` leaves (size ≤ the stored size) through `use`, fetching the tiles it
 * needs from the store as it asks for them (the tree is read with synchronous hashing; a missing tile is
 * fetched and `use` run again). Tiles grown since (wider, or full) serve the smaller tree by their prefix.
 */
export async function withStoredTree<T>(store: RelayStore, size: number, use: (tree: TileTree) => T): Promise<T> {
  const fetched = new Map<string, Uint8Array | null>();
  const key = (ref: TileRef) => `${ref.level}/${ref.index}`;
  const source = (ref: TileRef) => {
    const tile = fetched.get(key(ref));
    return tile && tile.length >= ref.width * 32 ? tile.subarray(0, ref.width * 32) : null;
  };
  for (;;) {
    try {
      return use(new TileTree(sha256, size, source));
    } catch (error) {
      if (!(error instanceof TreeUnavailable) || fetched.has(key(error.tile))) throw error;
      const [stored] = await store.auditTiles(error.tile.level, error.tile.index, error.tile.index + 1);
      fetched.set(key(error.tile), stored?.hashes ?? null);
    }
  }
}

/** The tiles of the stored tree of `size` leaves, in the order a bundle lists them, read a page at a time. */
export async function* storedTiles(store: RelayStore, size: number): AsyncGenerator<{ tile: TileRef; hashes: Uint8Array }> {
  for (let level = 0, nodes = size; nodes > 0; level++, nodes = Math.floor(nodes / TILE_WIDTH)) {
    const count = Math.ceil(nodes / TILE_WIDTH);
    for (let from = 0; from < count; from += 1000) {
      const page = await store.auditTiles(level, from, Math.min(count, from + 1000));
      for (let index = from; index < Math.min(count, from + 1000); index++) {
        const width = Math.min(TILE_WIDTH, nodes - index * TILE_WIDTH);
        const stored = page[index - from];
        if (!stored || stored.index !== index || stored.hashes.length < width * 32) throw new TreeUnavailable({ level, index, width });
        yield { tile: { level, index, width }, hashes: stored.hashes.subarray(0, width * 32) };
      }
    }
  }
}

/** Checks records against the leaves of the stored tree (is each still the record the tree took in?), reading its level-0 tiles as it goes. */
export class StoredLeaves {
  readonly #store: RelayStore;
  readonly #firstSeq: number;
  #tileIndex = -1;
  #hashes: Uint8Array = new Uint8Array();

  constructor(store: RelayStore, firstSeq: number) {
    this.#store = store;
    this.#firstSeq = firstSeq;
  }

  async holds(record: AuditRecord, line: string): Promise<boolean> {
    const leaf = await this.leaf(record.seq);
    return leaf !== null && Buffer.compare(leaf, lineLeafHash(line)) === 0;
  }

  /** The tree's leaf hash of record `seq` (32 bytes), or null when the stored tree has none. */
  async leaf(seq: number): Promise<Uint8Array | null> {
    const index = seq - this.#firstSeq;
    const tileIndex = Math.floor(index / TILE_WIDTH);
    if (this.#tileIndex !== tileIndex) {
      this.#hashes = (await this.#store.auditTiles(0, tileIndex, tileIndex + 1))[0]?.hashes ?? new Uint8Array();
      this.#tileIndex = tileIndex;
    }
    const at = (index % TILE_WIDTH) * 32;
    const leaf = index < 0 ? new Uint8Array() : this.#hashes.subarray(at, at + 32);
    return leaf.length === 32 ? leaf : null;
  }
}

/**
 * The seqs, in order, of the records in (after, last] (those `filter` passes) that are not the record their
 * leaf in the stored tree of the log from `firstSeq` says: altered after the tree took them in.
 */
export async function* recordsNotTheirLeaf(store: RelayStore, firstSeq: number, after: number, last: number, filter: AuditRecordFilter = {}): AsyncGenerator<number> {
  const leaves = new StoredLeaves(store, firstSeq);
  for (let seq = after; seq < last;) {
    const page = await store.auditRecordsAfter(seq, 5000, { ...filter, untilSeq: last });
    if (page.length === 0) return;
    for (const r of page) if (!(await leaves.holds(r, recordLine(r)))) yield r.seq;
    seq = page[page.length - 1]?.seq ?? last;
  }
}

/** A checkpoint the relay remembers signing: its size, root (base64) and time. */
export interface SignedCheckpoint {
  readonly size: number;
  readonly root: string;
  readonly at: number;
}

/**
 * The stored tree of `size` leaves against the last checkpoint the relay signed of its log: it must hold at
 * least that many records, and their root must be the one signed (else the database was rolled back to an
 * older copy, or rewritten, outside `rounds-server restore`).
 */
export async function againstSigned(store: RelayStore, size: number, signed: SignedCheckpoint | null): Promise<'none' | 'holds' | 'rolled back' | 'rewritten'> {
  if (!signed) return 'none';
  if (signed.size > size) return 'rolled back';
  const root = await withStoredTree(store, size, (tree) => tree.root(signed.size));
  const expected = fromBase64(signed.root);
  return expected && Buffer.compare(expected, root) === 0 ? 'holds' : 'rewritten';
}
