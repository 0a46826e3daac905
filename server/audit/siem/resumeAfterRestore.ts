import { LOG_RESTORED, RestoreDetailsSchema } from '../../../shared/audit/restoreLink';
import type { AuditSource } from './SiemStream';

/** How far back from the log's end the restore record is looked for: a restore is followed by a handful of records before the relay starts again. */
const TAIL = 1000;

/** The last seq of the log (0 when empty), found with O(log n) one-record reads: the log is numbered from 1 without gaps. */
export async function lastSeq(source: AuditSource): Promise<number> {
  const holds = async (seq: number) => (await source.auditRecordsAfter(seq - 1, 1)).length > 0;
  let low = 0;
  let step = 1;
  while (await holds(low + step)) {
    low += step;
    step *= 2;
  }
  let high = low + step;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await holds(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/**
 * Where the stream goes on when the record at its cursor is no longer the one it sent. A restore (server/backup.ts)
 * keeps the backup's records 1..N and begins a new log with an `audit.log_restored` record at N+1 that names
 * N and the backup's last hash. When the data directory held the backup's own log before (no other log was
 * replaced) and the SIEM already had record N, records 1..N are the very ones it has: the stream goes on
 * after N. Anything else (no restore record near the end, another log replaced) sends the whole log again.
 */
export async function resumeAfterRestore(source: AuditSource, cursorSeq: number): Promise<number> {
  const head = await lastSeq(source);
  const tail = await source.auditRecordsAfter(Math.max(0, head - TAIL), TAIL);
  const restore = tail.findLast((record) => record.type === LOG_RESTORED);
  if (!restore) return 0;
  const details = RestoreDetailsSchema.safeParse(restore.details);
  if (!details.success || details.data.replacedLog !== null) return 0;
  const backupEnd = details.data.backupRecords;
  const linked = restore.seq === backupEnd + 1 && (backupEnd === 0 || restore.prevHash === details.data.backupHead);
  return linked && backupEnd <= cursorSeq ? backupEnd : 0;
}
