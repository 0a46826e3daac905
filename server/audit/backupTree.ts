import { toBase64 } from '../../shared/audit/checkpoint';
import { formatConsistency } from '../../shared/audit/restoreLink';
import { TileTree, TileWriter, tilePath, type TileSource } from '../../shared/audit/tiles';
import { ConfigurationError } from '../ConfigurationError';
import type { RelayStore } from '../storage/RelayStore';
import { lineLeafHash, recordLine, sha256 } from './AuditTree';
import type { SignedCheckpointEntry } from './signedCheckpoints';

/*
 * What a restore checks of the backup's audit log before it replaces anything: its Merkle tree, built from
 * the backup's own records (not from the tiles the backup's database stores, which whoever rewrote a record
 * could have rebuilt too), against every checkpoint of that log the relay remembers signing. A backup this
 * relay made always passes (its records are those it signed); one whose records were rewritten after they
 * were signed cannot give the signed roots, and is refused. The restore record then carries the tree's size
 * and root and a consistency proof from each remembered size, so that a verifier holding any earlier bundle
 * of the log proves the backup extends it (shared/audit/restoreLink.ts).
 */

const PAGE = 10_000;

/** The tree of a log kept in a database (a backup's, an earlier log's): leaf i is the events.jsonl line of record firstSeq + i, up to `lastSeq`. Held in memory (32 bytes a record), with its tiles. */
export async function logTreeInMemory(store: RelayStore, firstSeq: number, lastSeq: number): Promise<{ tree: TileTree; source: TileSource }> {
  const tiles = new Map<string, Uint8Array>();
  const writer = new TileWriter(sha256, 0, [], (tile, hashes) => tiles.set(tilePath(tile), hashes));
  for (let after = firstSeq - 1; after < lastSeq;) {
    const records = await store.auditRecordsAfter(after, PAGE);
    if (records.length === 0) break;
    for (const record of records) {
      if (record.seq > lastSeq) break;
      writer.addLeafHash(lineLeafHash(recordLine(record)));
    }
    after = (records.at(-1)?.seq ?? lastSeq);
  }
  for (const { tile, hashes } of writer.partials()) tiles.set(tilePath(tile), hashes);
  const source: TileSource = (tile) => tiles.get(tilePath(tile))?.subarray(0, tile.width * 32) ?? null;
  return { tree: new TileTree(sha256, writer.size, source), source };
}

/**
 * Refuses a backup whose tree does not give the root of every checkpoint of its log (`signed`, that log's
 * remembered checkpoints) that it is large enough for. Names the records where it departs: between the
 * largest checkpoint it matches and the smallest it does not.
 */
export function requireSignedRoots(tree: TileTree, log: { readonly origin: string; readonly firstSeq: number }, signed: readonly SignedCheckpointEntry[], what = "the backup's audit log", outcome = 'nothing was restored'): void {
  const covered = [...signed].filter((c) => c.size > 0 && c.size <= tree.size).sort((a, b) => a.size - b.size);
  let matched = 0;
  for (const checkpoint of covered) {
    if (toBase64(tree.root(checkpoint.size)) === checkpoint.root) {
      matched = checkpoint.size;
      continue;
    }
    const from = log.firstSeq + matched;
    const to = log.firstSeq + checkpoint.size - 1;
    throw new ConfigurationError(`${what} is not the one the relay signed: ${from === to ? `record ${from}` : `records ${from}..${to}`} of ${log.origin} differ from those of the checkpoint of ${checkpoint.size} records the relay signed (were they rewritten in the database?); ${outcome}`);
  }
}

/** The backup's tree as the restore record states it: size, root and a consistency proof from each remembered size of its log. */
export function backupTreeFacts(tree: TileTree, signed: readonly SignedCheckpointEntry[]): { size: number; root: string; consistency: string } {
  const proofs = new Map<number, Uint8Array[]>();
  for (const { size } of signed) if (size > 0 && size <= tree.size && !proofs.has(size)) proofs.set(size, tree.consistencyProof(size, tree.size));
  return { size: tree.size, root: toBase64(tree.root()), consistency: formatConsistency(proofs) };
}
