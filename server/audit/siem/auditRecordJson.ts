import type { AuditRecord } from '../AuditRecord';

/**
 * One audit record as the SIEM receives it: a JSON object with its fields in a fixed order and its details'
 * keys sorted, so the same record is always the same bytes. The record's `hash` is SHA-256 over
 * `canonicalRecord` (shared/audit/recordChain.ts), the JSON array of these fields but the hash: a SIEM can
 * recompute it, and `prevHash` links each record to the one before it. Metadata only: the audit log holds
 * no message content, passwords or codes (AuditRecord.ts), so nothing secret leaves through here.
 */
export function auditRecordJson(record: AuditRecord): string {
  const details = Object.fromEntries(Object.entries(record.details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify({
    seq: record.seq, at: record.at, type: record.type, actor: record.actor, subject: record.subject,
    details, flagged: record.flagged, prevHash: record.prevHash, hash: record.hash,
  });
}
