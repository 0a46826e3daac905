import { RELAY_ORIGIN_PREFIX } from '../../shared/audit/bundle';
import { RestoreDetailsSchema } from '../../shared/audit/restoreLink';
import { existingLogOrigin } from '../audit/auditKey';
import { lastTrustedCheckpoint } from '../audit/trustedCheckpoints';
import type { RelayStore } from '../storage/RelayStore';

/**
 * `audit check`'s lines about the log new records go to: its origin (the name in its checkpoints), the
 * record it starts at, and, for a log a restore started, that restore and what it lost; then the last
 * checkpoint the relay remembers signing for it.
 */
export async function currentAuditLogLines(store: RelayStore, dataDir: string): Promise<string[]> {
  const start = await store.auditLogStart();
  const origin = start.origin ?? existingLogOrigin(dataDir);
  if (!origin) return ['current log: none yet (the relay makes its audit key and log id at its first start)'];
  const lines = [`current log: ${origin}, from record ${start.firstSeq}`];
  const named = existingLogOrigin(dataDir);
  if (start.origin !== null && named !== start.origin) lines.push(`WARNING: the data directory's log id names ${named ?? 'no log'}, but the database's current log is ${start.origin}: exports would sign it under the wrong name; restore the audit-log-id file (it holds the part after ${RELAY_ORIGIN_PREFIX})`);
  const [first] = start.firstSeq > 1 ? await store.auditRecordsAfter(start.firstSeq - 1, 1) : [];
  const restore = first?.type === 'audit.log_restored' ? RestoreDetailsSchema.safeParse(first.details) : null;
  if (first && restore?.success) {
    const d = restore.data;
    lines.push(`it was restored: record ${first.seq} (${new Date(first.at).toISOString()}, by ${first.actor}) restored ${d.backupFile}, taken ${new Date(d.backupCreatedAt).toISOString()} with ${d.backupRecords} records of ${d.previousLog}`);
    lines.push(d.lostFrom !== null && d.lostTo !== null ? `records ${d.lostFrom}..${d.lostTo} of ${d.previousLog}, which the relay had signed, were lost with that restore` : `no record of ${d.previousLog} that the relay had signed was lost with that restore`);
  }
  const last = lastTrustedCheckpoint(dataDir, origin);
  lines.push(last ? `last signed checkpoint of this log: ${last.size} records, root ${last.root} (${new Date(last.at).toISOString()})` : 'no checkpoint of this log signed yet (one is signed with each export)');
  return lines;
}
