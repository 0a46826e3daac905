import { fromBase64 } from '../../shared/audit/checkpoint';
import { equal } from '../../shared/audit/merkle';
import { TileConsistency } from '../../shared/audit/tiles';
import { StoredLeaves, growAuditTree, recordLine, sha256, storedTiles, withStoredTree } from '../audit/AuditTree';
import { existingLogOrigin } from '../audit/auditKey';
import { lastTrustedCheckpoint, trustedCheckpoints } from '../audit/trustedCheckpoints';
import type { RelayStore } from '../storage/RelayStore';

/**
 * `audit check`'s second half: the current log against the tree the relay keeps of it and against the last
 * checkpoint it signed. The hash chain alone cannot show a log rolled back to an old copy, or rewritten and
 * re-chained by someone with the database file; the signed checkpoint can. Reads the whole log once.
 * `rebuild`: the stored tree (derived data) is dropped first and grown again from the records.
 */
export async function checkAuditTree(store: RelayStore, dataDir: string, rebuild: boolean): Promise<{ ok: boolean; lines: string[] }> {
  const lines: string[] = [];
  let ok = true;
  const fail = (line: string) => {
    ok = false;
    lines.push(line);
  };
  if (rebuild) {
    await store.resetAuditTree();
    lines.push('stored tree dropped: rebuilding it from the records');
  }
  const state = await growAuditTree(store);
  const last = state.firstSeq + state.size - 1;
  const leaves = new StoredLeaves(store, state.firstSeq);
  let altered = 0;
  for (let after = state.firstSeq - 1; after < last;) {
    const page = await store.auditRecordsAfter(after, 5000, { untilSeq: last });
    if (page.length === 0) break;
    for (const r of page) {
      if (await leaves.holds(r, recordLine(r))) continue;
      if (altered++ === 0) fail(`record ${r.seq} is not the record the relay's tree took in: it was altered since`);
    }
    after = page[page.length - 1]?.seq ?? last;
  }
  if (altered > 1) lines.push(`... ${altered} records in all differ from the tree`);
  const tiles = new TileConsistency(sha256);
  for await (const { tile, hashes } of storedTiles(store, state.size)) tiles.add(tile, hashes);
  for (const problem of tiles.problems()) fail(`the stored tree is damaged: ${problem} (rounds-server audit check --rebuild-tree rebuilds it from the records)`);
  if (altered === 0 && tiles.problems().length === 0) lines.push(`tree: ${state.size} records from record ${state.firstSeq}, every one the record its leaf says`);

  const origin = (await store.auditLogStart()).origin ?? existingLogOrigin(dataDir);
  if (origin) {
    const signed = lastTrustedCheckpoint(dataDir, origin);
    if (signed && signed.size > state.size) {
      fail(`ROLLED BACK: the relay signed a checkpoint of ${signed.size} records of ${origin} on ${new Date(signed.at).toISOString()}, and the log now holds ${state.size}: the database was replaced by an older copy outside \`rounds-server restore\``);
    } else if (signed) {
      const root = await withStoredTree(store, state.size, (tree) => tree.root(signed.size));
      const expected = fromBase64(signed.root);
      if (!expected || !equal(expected, root)) fail(`REWRITTEN: the log's first ${signed.size} records are not the ones the relay signed on ${new Date(signed.at).toISOString()}`);
      else lines.push(`the log extends the last checkpoint the relay signed (${signed.size} records)`);
    }
    const { untrusted } = trustedCheckpoints(dataDir);
    if (untrusted.length > 0) lines.push(`WARNING: ${untrusted.length} entries of audit-checkpoints.jsonl are not signed by the relay's audit keys; they are ignored (someone wrote them there)`);
  }
  return { ok, lines };
}
