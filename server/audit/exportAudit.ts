import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RelayStore } from '../storage/RelayStore';

export interface AuditExportResult {
  readonly path: string;
  readonly records: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Writes the audit records of [from, to) to `outDir/events.jsonl`, one canonical JSON record per line,
 * with their hashes so the chain can be re-checked. The export itself is audited. (The signed,
 * offline-verifiable bundle format extends this function.)
 */
export async function exportAudit(store: RelayStore, from: number, to: number, outDir: string, actor: string): Promise<AuditExportResult> {
  const records = await store.auditRecords(from, to);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const path = join(outDir, 'events.jsonl');
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : ''), { mode: 0o600 });
  await store.appendAudit([{ type: 'audit.exported', actor, subject: '', details: { from, to, records: records.length } }]);
  return { path, records: records.length, from, to };
}
