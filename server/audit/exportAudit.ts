import { buildBundle, type ExportedRecord } from '../../shared/audit/bundle';
import type { AuditRecord } from './AuditRecord';
import type { RelayStore } from '../storage/RelayStore';
import { nodeAuditCrypto } from './auditCrypto';
import type { AuditKey } from './auditKey';
import { writeBundle } from './bundleFiles';

export interface AuditExportResult {
  readonly path: string;
  readonly records: number;
  readonly treeSize: number;
}

/** A relay audit record as it is exported and hashed into the Merkle tree. */
export function exportedRecord(r: AuditRecord): ExportedRecord {
  return { seq: r.seq, at: r.at, type: r.type, actor: r.actor, subject: r.subject, details: r.details, flagged: r.flagged, prevHash: r.prevHash, hash: r.hash };
}

/**
 * A signed bundle of the records in [from, to) (of one user, if given: those they did or that were done
 * to them). The checkpoint covers the whole log; proofs of consistency from every earlier export are
 * included. The export itself is audited, with its tree size.
 */
export async function buildRelayBundle(store: RelayStore, key: AuditKey, options: { from: number; to: number; user: string | null; actor: string }): Promise<{ files: Map<string, Uint8Array>; records: number; treeSize: number }> {
  const all = (await store.auditRecords(0, Number.MAX_SAFE_INTEGER)).map(exportedRecord);
  const inRange = all.filter((r) => r.at >= options.from && r.at < options.to);
  const user = options.user;
  const selected = user === null ? inRange : inRange.filter((r) => String(r.actor).startsWith(user) || String(r.subject).startsWith(user));
  const earlierSizes = all.filter((r) => r.type === 'audit.exported').map((r) => Number((r.details as Record<string, unknown>).treeSize)).filter((n) => Number.isInteger(n));
  const files = buildBundle(nodeAuditCrypto, {
    origin: key.origin,
    range: { from: options.from, to: options.to, user },
    all,
    selected,
    earlierSizes,
    signer: key,
    title: 'Rounds relay audit log',
    generatedAt: Date.now(),
  });
  await store.appendAudit([{ type: 'audit.exported', actor: options.actor, subject: user ?? '', details: { from: options.from, to: options.to, records: selected.length, treeSize: all.length } }]);
  return { files, records: selected.length, treeSize: all.length };
}

/** `rounds-server audit export`: the bundle written to `out` (a directory, or a .zip). */
export async function exportAudit(store: RelayStore, key: AuditKey, options: { from: number; to: number; user: string | null; out: string; actor: string }): Promise<AuditExportResult> {
  const { files, records, treeSize } = await buildRelayBundle(store, key, options);
  writeBundle(options.out, files);
  return { path: options.out, records, treeSize };
}
