import { buildBundle, type ChainBreak, type ExportedRecord } from '../../shared/audit/bundle';
import type { SignedKeyRotation } from '../../shared/audit/keyRotation';
import { RelayFailure } from '../RelayFailure';
import { GENESIS_HASH, checkChain, type AuditRecord } from './AuditRecord';
import type { RelayStore } from '../storage/RelayStore';
import { nodeAuditCrypto } from './auditCrypto';
import type { AuditKey } from './auditKey';
import { writeBundle } from './bundleFiles';

export interface AuditExportResult {
  readonly path: string;
  readonly records: number;
  readonly treeSize: number;
  /** Set when the log's hash chain was broken and it was exported anyway (allowBroken). */
  readonly chainBroken: ChainBreak | null;
}

/** A relay audit record as it is exported and hashed into the Merkle tree. */
export function exportedRecord(r: AuditRecord): ExportedRecord {
  return { seq: r.seq, at: r.at, type: r.type, actor: r.actor, subject: r.subject, details: r.details, flagged: r.flagged, prevHash: r.prevHash, hash: r.hash };
}

/**
 * The relay refuses to sign a log whose hash chain does not hold: a signature would vouch for records that
 * were altered, removed or inserted. The admin may export it as evidence, marked as broken (--allow-broken);
 * the app's compliance export has no such override. A RelayFailure: the CLI prints it, the API sends it.
 */
export class AuditChainBroken extends RelayFailure {
  constructor(readonly brokenAt: number, readonly reason: string) {
    super('AUDIT_LOG_BROKEN', `the relay's audit log is broken at record ${brokenAt} (${reason}), so it was not exported: the relay's administrator should run \`rounds-server audit check\` and investigate; \`rounds-server audit export --allow-broken\` exports it as evidence, marked as broken`);
    this.name = 'AuditChainBroken';
  }
}

/** The rotation statements kept in the log's `audit.key_rotated` records, oldest first (rotations before signed statements have none). */
function rotationStatements(records: readonly AuditRecord[]): SignedKeyRotation[] {
  return records.flatMap((r) => {
    const { statement, signature } = r.details;
    return r.type === 'audit.key_rotated' && typeof statement === 'string' && typeof signature === 'string' ? [{ statement, signature }] : [];
  });
}

/**
 * A signed bundle of the records in [from, to) (of one user, if given: those they did or that were done
 * to them). The checkpoint covers the whole log; proofs of consistency from every earlier export are
 * included, and every key rotation statement. The hash chain is checked first: a broken log is refused
 * (AuditChainBroken) unless `allowBroken`, which marks the bundle as broken in every file an auditor reads.
 * The export itself is audited, with its tree size.
 */
export async function buildRelayBundle(store: RelayStore, key: AuditKey, options: { from: number; to: number; user: string | null; actor: string; allowBroken?: boolean }): Promise<{ files: Map<string, Uint8Array>; records: number; treeSize: number; chainBroken: ChainBreak | null }> {
  const records = await store.auditRecords(0, Number.MAX_SAFE_INTEGER);
  const check = checkChain(records, GENESIS_HASH, 1);
  const chainBroken = check.ok ? null : { seq: check.brokenAt ?? 0, reason: check.reason ?? 'broken' };
  if (chainBroken && !options.allowBroken) {
    // The refusal is itself worth a compliance officer's attention (the log is appended to as before: a
    // break stays where it is, and what follows it still chains from the last record).
    await store.appendAudit([{ type: 'audit.export_refused', actor: options.actor, subject: options.user ?? '', details: { from: options.from, to: options.to, chainBrokenAt: chainBroken.seq, reason: chainBroken.reason }, flagged: true }]);
    throw new AuditChainBroken(chainBroken.seq, chainBroken.reason);
  }
  const all = records.map(exportedRecord);
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
    rotations: rotationStatements(records),
    ...(chainBroken ? { chainBroken } : {}),
  });
  await store.appendAudit([{ type: 'audit.exported', actor: options.actor, subject: user ?? '', details: { from: options.from, to: options.to, records: selected.length, treeSize: all.length, ...(chainBroken ? { chainBrokenAt: chainBroken.seq } : {}) } }]);
  return { files, records: selected.length, treeSize: all.length, chainBroken };
}

/** `rounds-server audit export`: the bundle written to `out` (a directory, or a .zip). */
export async function exportAudit(store: RelayStore, key: AuditKey, options: { from: number; to: number; user: string | null; out: string; actor: string; allowBroken?: boolean }): Promise<AuditExportResult> {
  const { files, records, treeSize, chainBroken } = await buildRelayBundle(store, key, options);
  writeBundle(options.out, files);
  return { path: options.out, records, treeSize, chainBroken };
}
