import { TileConsistency, TreeUnavailable } from '../../shared/audit/tiles';
import { againstSigned, growAuditTree, recordsNotTheirLeaf, sha256, storedTiles } from '../audit/AuditTree';
import { existingLogOrigin } from '../audit/auditKey';
import { lastTrustedCheckpoint, trustedCheckpoints } from '../audit/trustedCheckpoints';
import type { AuditTreeState, RelayStore } from '../storage/RelayStore';

/** The seqs of the records of the stored tree's log that are not the record their leaf says. */
async function recordsNotInTree(store: RelayStore, state: AuditTreeState): Promise<number[]> {
  const differing: number[] = [];
  for await (const seq of recordsNotTheirLeaf(store, state.firstSeq, state.firstSeq - 1, state.firstSeq + state.size - 1)) differing.push(seq);
  return differing;
}

/**
 * `audit check`'s second half: the current log against the tree the relay keeps of it and against the last
 * checkpoint it signed. The hash chain alone cannot show a log rolled back to an old copy, or rewritten and
 * re-chained by someone with the database file; the signed checkpoint can. `failures`: the lines that say
what does not hold (also in `lines`, in their place).
 * `rebuild`: the stored tree (derived data) is dropped first and grown again from the records.
 */
export async function checkAuditTree(store: RelayStore, dataDir: string, rebuild: false | { actor: string; force: boolean }): Promise<{ ok: boolean; lines: string[]; failures: string[] }> {
  const lines: string[] = [];
  const failures: string[] = [];
  const fail = (line: string) => {
    failures.push(line);
    lines.push(line);
  };
  if (rebuild) {
    // A rebuild takes the records as they are now: records that differ from the tree would be signed as
    // they are. It is refused unless forced, and a forced one is audited with what differed.
    const before = await growAuditTree(store);
    const differing = await recordsNotInTree(store, before);
    if (differing.length > 0 && !rebuild.force) {
      fail(`not rebuilt: ${differing.length} records differ from the stored tree (first: ${differing.slice(0, 10).join(', ')}); a rebuild would sign them as they are now. Investigate; \`--rebuild-tree --force\` rebuilds anyway, and the audit log records it`);
      return { ok: false, lines, failures };
    }
    await store.appendAudit([{ type: 'audit.tree_rebuilt', actor: rebuild.actor, subject: '', details: { differing: differing.length, first: differing.slice(0, 20).join(' ') }, flagged: true }]);
    await store.resetAuditTree();
    lines.push(`stored tree dropped: rebuilding it from the records${differing.length > 0 ? ` (${differing.length} records differed from it; recorded in the audit log)` : ''}`);
  }
  const state = await growAuditTree(store);
  const altered = await recordsNotInTree(store, state);
  if (altered.length > 0) fail(`record ${altered[0]} is not the record the relay's tree took in: it was altered since${altered.length > 1 ? ` (${altered.length} records in all differ from the tree)` : ''}`);
  const tiles = new TileConsistency(sha256);
  try {
    for await (const { tile, hashes } of storedTiles(store, state.size)) tiles.add(tile, hashes);
  } catch (error) {
    // A tile missing altogether: the same damage, and the same remedy.
    if (!(error instanceof TreeUnavailable)) throw error;
    fail(`the stored tree is damaged: ${error.message} (rounds-server audit check --rebuild-tree rebuilds it from the records)`);
  }
  for (const problem of tiles.problems()) fail(`the stored tree is damaged: ${problem} (rounds-server audit check --rebuild-tree rebuilds it from the records)`);
  if (failures.length === 0) lines.push(`tree: ${state.size} records from record ${state.firstSeq}, every one the record its leaf says`);

  const origin = (await store.auditLogStart()).origin ?? existingLogOrigin(dataDir);
  if (origin) {
    const signed = lastTrustedCheckpoint(dataDir, origin);
    const when = signed ? new Date(signed.at).toISOString() : '';
    switch (await againstSigned(store, state.size, signed)) {
      case 'rolled back': fail(`ROLLED BACK: the relay signed a checkpoint of ${signed?.size ?? 0} records of ${origin} on ${when}, and the log now holds ${state.size}: the database was replaced by an older copy outside \`rounds-server restore\``); break;
      case 'rewritten': fail(`REWRITTEN: the log's first ${signed?.size ?? 0} records are not the ones the relay signed on ${when}`); break;
      case 'holds': lines.push(`the log extends the last checkpoint the relay signed (${signed?.size ?? 0} records)`); break;
      case 'none': break;
    }
    const { untrusted } = trustedCheckpoints(dataDir);
    if (untrusted.length > 0) lines.push(`WARNING: ${untrusted.length} entries of audit-checkpoints.jsonl are not signed by the relay's audit keys; they are ignored (someone wrote them there)`);
  }
  return { ok: failures.length === 0, lines, failures };
}
