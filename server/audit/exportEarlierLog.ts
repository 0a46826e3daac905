import { BundleWriter, type BundleSink } from '../../shared/audit/bundle';
import { toBase64 } from '../../shared/audit/checkpoint';
import type { SignedKeyRotation } from '../../shared/audit/keyRotation';
import type { AuditDirectory } from '../../shared/audit/people';
import { LOG_RESTORED, RestoreDetailsSchema } from '../../shared/audit/restoreLink';
import { tilesOfTree } from '../../shared/audit/tiles';
import { ConfigurationError } from '../ConfigurationError';
import type { RelayStore } from '../storage/RelayStore';
import type { AuditKey } from './auditKey';
import { nodeAuditCrypto } from './auditCrypto';
import { logTreeInMemory, requireSignedRoots } from './backupTree';
import { writeBundleStreaming } from './bundleFiles';
import { exportedRecord } from './exportAudit';
import { recordLine } from './AuditTree';
import { rememberCheckpoint } from './signedCheckpoints';
import { trustedCheckpoints } from './trustedCheckpoints';

/*
 * `rounds-server audit export --log <origin>`: a bundle of an earlier log whose records the database still
 * holds (a restore keeps the backup's records of the log it ends: those written after the last export of
 * that log and before the backup are in no other bundle). The tree is built in memory from the records;
 * the checkpoint is signed with the current key for that log's name, and only when it agrees with every
 * checkpoint of that log the relay remembers signing (c2sp.org/tlog-checkpoint: never one inconsistent
 * with an earlier one). It is remembered like any other.
 */

const PAGE = 5_000;
const encoder = new TextEncoder();

/** The earlier logs the database holds records of: each restore record names the log its backup's records belong to. */
async function earlierLogs(store: RelayStore): Promise<{ origin: string; firstSeq: number; lastSeq: number; backupRoot: string | null }[]> {
  const logs: { origin: string; firstSeq: number; lastSeq: number; backupRoot: string | null }[] = [];
  for (let after = 0; ;) {
    const page = await store.auditRecordsAfter(after, PAGE, { types: [LOG_RESTORED] });
    if (page.length === 0) return logs;
    for (const r of page) {
      const details = RestoreDetailsSchema.safeParse(r.details);
      if (details.success && r.seq > details.data.previousFirstSeq) logs.push({ origin: details.data.previousLog, firstSeq: details.data.previousFirstSeq, lastSeq: r.seq - 1, backupRoot: details.data.backupRoot ?? null });
    }
    after = page.at(-1)?.seq ?? after;
  }
}

async function keyRotations(store: RelayStore): Promise<SignedKeyRotation[]> {
  const rotations: SignedKeyRotation[] = [];
  for (let after = 0; ;) {
    const page = await store.auditRecordsAfter(after, PAGE, { types: ['audit.key_rotated'] });
    if (page.length === 0) return rotations;
    for (const { details: { statement, signature } } of page) if (typeof statement === 'string' && typeof signature === 'string') rotations.push({ statement, signature });
    after = page.at(-1)?.seq ?? after;
  }
}

export interface EarlierLogExport {
  readonly origin: string;
  readonly out: string;
  readonly actor: string;
  readonly dataDir: string;
  readonly directory?: AuditDirectory;
  readonly now?: number;
}

/**
 * An export of an earlier log refused because what the database holds of it cannot be vouched for: audited
 * (flagged, like a refused export of the current log: it is worth a compliance officer's attention), then said.
 */
export async function refuseEarlierLogExport(store: RelayStore, actor: string, origin: string, reason: string, message: string): Promise<never> {
  await store.appendAudit([{ type: 'audit.export_refused', actor, subject: '', details: { log: origin, reason }, flagged: true }]);
  throw new ConfigurationError(message);
}

/** Writes the bundle of the earlier log `origin` (all its records the database holds) to `out`. */
export async function exportEarlierLog(store: RelayStore, key: AuditKey, options: EarlierLogExport): Promise<{ path: string; firstSeq: number; records: number }> {
  const logs = await earlierLogs(store);
  const log = logs.filter((l) => l.origin === options.origin).at(-1);
  if (!log) throw new ConfigurationError(`the database holds no records of an earlier log named ${options.origin}${logs.length > 0 ? ` (it holds records of ${[...new Set(logs.map((l) => l.origin))].join(', ')})` : ' (no restore began a new log here)'}; the current log is exported without --log`);
  const refuse = (reason: string, message: string) => refuseEarlierLogExport(store, options.actor, log.origin, reason, message);
  const chain = await store.checkAuditChain();
  if (!chain.ok) return refuse(`the hash chain is broken at record ${String(chain.brokenAt)}`, `the audit log's hash chain is broken at record ${String(chain.brokenAt)} (${chain.reason ?? 'broken'}): run \`rounds-server audit check\`; nothing was exported`);
  const { tree, source } = await logTreeInMemory(store, log.firstSeq, log.lastSeq);
  const signed = trustedCheckpoints(options.dataDir, log.origin).trusted;
  try {
    requireSignedRoots(tree, log, signed, `the database's copy of ${log.origin}`, 'nothing was exported');
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    return refuse('its records are not those the relay signed', error.message);
  }
  const root = tree.root();
  if (log.backupRoot === null) return refuse('its restore record carries no tree of its records', `the restore record that ended ${log.origin} carries no tree of its records (every restore writes one: it was altered); nothing was exported`);
  if (log.backupRoot !== toBase64(root)) return refuse('its records are not those the restore that ended it checked', `the database's records of ${log.origin} are not those the restore that ended it checked; nothing was exported`);
  const sizes = [...new Set(signed.map((c) => c.size))].filter((m) => m > 0 && m < tree.size);
  let records = 0;
  await writeBundleStreaming(options.out, async (sink: BundleSink) => {
    const writer = new BundleWriter(nodeAuditCrypto, sink, {
      origin: log.origin, range: { from: 0, to: options.now ?? Date.now(), user: null }, firstSeq: log.firstSeq, signer: key,
      title: 'Rounds relay audit log (an earlier log)', generatedAt: options.now ?? Date.now(), rotations: await keyRotations(store),
      ...(options.directory ? { directory: options.directory } : {}),
    });
    for (let after = log.firstSeq - 1; after < log.lastSeq;) {
      const page = await store.auditRecordsAfter(after, PAGE, { untilSeq: log.lastSeq });
      if (page.length === 0) break;
      for (const r of page) writer.add(exportedRecord(r), recordLine(r));
      after = page.at(-1)?.seq ?? log.lastSeq;
    }
    const [start] = log.firstSeq > 1 ? await store.auditRecordsAfter(log.firstSeq - 1, 1) : [];
    if (start) writer.logStart(encoder.encode(recordLine(start)));
    for (const ref of tilesOfTree(tree.size)) {
      const hashes = source(ref);
      if (hashes) writer.addTile(ref, hashes);
    }
    const note = writer.finish({ size: tree.size, root, consistency: sizes.map((m) => ({ fromSize: m, proof: tree.consistencyProof(m) })) });
    records = writer.records;
    // Remembered before the bundle is handed out (it is put in place when this returns).
    rememberCheckpoint(options.dataDir, { origin: log.origin, size: tree.size, root: toBase64(root), note, at: options.now ?? Date.now() });
  });
  await store.appendAudit([{ type: 'audit.exported', actor: options.actor, subject: '', details: { log: log.origin, firstSeq: log.firstSeq, records, logSize: tree.size } }]);
  return { path: options.out, firstSeq: log.firstSeq, records };
}
