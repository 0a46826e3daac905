/**
 * Audit export bundles: the layout (bundleLayout.ts), the streaming writer (bundleWriter.ts) and the
 * verifier (bundleVerify.ts), with `buildBundle` for a log small enough to hold in memory (a workstation's).
 * Pure (no Node, no files): the caller passes the crypto (SHA-256, Ed25519) and reads or writes the files.
 */
import { BundleWriter, type BundleHeader } from './bundleWriter';
import { canonicalJson } from './canonicalJson';
import { concatBytes } from './checkpoint';
import { tilesInMemory, tilesOfTree, TileTree, tilePath } from './tiles';
import type { AuditCrypto, ExportedRecord } from './bundleLayout';

export * from './bundleLayout';
export { BundleWriter, readoutHeader, type BundleHeader, type BundleSink, type ExportedTree, type ReadoutElsewhere } from './bundleWriter';
export { mapReader, verifyBundle, type BundleReader, type Verdict, type VerifyOptions } from './bundleVerify';
export { hex } from './checkpoint';
export { canonicalJson };

/** A whole bundle built in memory: the log's records (the tree is over all of them) and which are exported. */
export interface BuildInput extends Omit<BundleHeader, 'firstSeq'> {
  /** Every record of the log, in order (the tree is over all of them). */
  readonly all: readonly ExportedRecord[];
  /** Which of them are exported (sorted by seq). */
  readonly selected: readonly ExportedRecord[];
  /** Tree sizes of earlier exports: a consistency proof from each is included. */
  readonly earlierSizes: readonly number[];
  /** The seq of the log's first record (default: the first record's, else 1). */
  readonly firstSeq?: number;
}

export function buildBundle(crypto: AuditCrypto, input: BuildInput): Map<string, Uint8Array> {
  const encoder = new TextEncoder();
  const lines = new Map(input.all.map((r) => [r, canonicalJson(r)]));
  const { size, tiles } = tilesInMemory(crypto.sha256, [...lines.values()].map((l) => encoder.encode(l)));
  const tree = new TileTree(crypto.sha256, size, (ref) => tiles.get(tilePath(ref)) ?? null);
  const parts = new Map<string, Uint8Array[]>();
  const writer = new BundleWriter(crypto, { append: (name, bytes) => void (parts.get(name) ?? parts.set(name, []).get(name))?.push(bytes) }, { ...input, firstSeq: input.firstSeq ?? input.all[0]?.seq ?? 1 });
  for (const record of input.selected) writer.add(record, lines.get(record) ?? canonicalJson(record));
  for (const ref of tilesOfTree(size)) writer.addTile(ref, tiles.get(tilePath(ref)) ?? new Uint8Array());
  writer.finish({
    size,
    root: tree.root(),
    consistency: [...new Set(input.earlierSizes)].filter((m) => m > 0 && m < size).map((m) => ({ fromSize: m, proof: tree.consistencyProof(m) })),
  });
  return new Map([...parts].map(([name, chunks]) => [name, concatBytes(chunks)]));
}
