/**
 * How a restore shows in the audit bundles, and how `rounds-audit verify --previous` follows it. A restore
 * rolls the relay's database back to a backup: the records appended after the backup are gone, and the log
 * goes on from there. Signing on under the same name would contradict checkpoints signed before (same
 * origin and size, another root: c2sp.org/tlog-checkpoint forbids it), so the relay starts a new log (a new
 * origin) instead. Its first record, `audit.log_restored`, names the restore, the backup (its last record
 * and that record's hash, which the restore record's prevHash must be), the log it continues and that log's
 * last signed checkpoint, which the relay remembers outside its database (server/audit/signedCheckpoints.ts).
 *
 * Given an older bundle of the previous log and that first record (a newer bundle's `log-start.jsonl`),
 * `followRestore` checks the link and says which records of the previous log the restore lost. Pure: the
 * crypto is passed in, as in bundle.ts.
 */
import { z } from 'zod';
import type { AuditCrypto, ExportedRecord } from './bundleLayout';
import { fromBase64, noteKeyId, parseCheckpoint, toBase64 } from './checkpoint';
import { equal, verifyConsistency } from './merkle';

export const LOG_RESTORED = 'audit.log_restored';

const HASH = z.string().regex(/^[0-9a-f]{64}$/);

/** The restore record's details (flat: an audit record's details hold no objects). */
export const RestoreDetailsSchema = z.object({
  /** The origin of the log this record starts. */
  log: z.string().min(1),
  /** The backup file's name, when it was taken, its last record (the log's records are numbered from 1 without gaps: also their number) and that record's hash. */
  backupFile: z.string(),
  backupCreatedAt: z.number(),
  backupRecords: z.number().int().min(0),
  backupHead: HASH.nullable(),
  /** The log the backup's records belong to, and its first record. */
  previousLog: z.string().min(1),
  previousFirstSeq: z.number().int().min(1),
  /** That log's last checkpoint the relay remembers signing: size, root (base64) and the whole signed note; null when it signed none. */
  previousCheckpointSize: z.number().int().min(0).nullable(),
  previousCheckpointRoot: z.string().nullable(),
  previousCheckpoint: z.string().nullable(),
  /** The records of the previous log that its last signed checkpoint covers and the backup lacks (null: none). */
  lostFrom: z.number().int().nullable(),
  lostTo: z.number().int().nullable(),
  /** The log the data directory held before, when it was another one (an earlier restore's), and its last signed checkpoint. */
  replacedLog: z.string().nullable(),
  replacedCheckpoint: z.string().nullable(),
  /*
   * Absent from restore records made before they carried them (read as unknown, never as checked):
   * The backup's Merkle tree of the previous log (its records previousFirstSeq..backupRecords, each leaf its
   * exact events.jsonl line): its size and root (base64), which the restore checked against every checkpoint
   * of that log the relay remembers signing.
   */
  backupSize: z.number().int().min(0).optional(),
  backupRoot: z.string().optional(),
  /** RFC 9162 consistency proofs from each remembered checkpoint size ≤ backupSize to backupSize (CONSISTENCY_FORMAT). */
  consistency: z.string().optional(),
  /** The replaced log's records, all lost (its last signed checkpoint's range): when the restore replaced another log than the backup's. */
  replacedLostFrom: z.number().int().nullable().optional(),
  replacedLostTo: z.number().int().nullable().optional(),
  /** The records the database held that the restore discarded (signed or not), and the hash of its last record then. */
  discardedFrom: z.number().int().nullable().optional(),
  discardedTo: z.number().int().nullable().optional(),
  discardedHead: HASH.nullable().optional(),
});
export type RestoreDetails = z.infer<typeof RestoreDetailsSchema>;

/** What a restore appends to a log id: `-r` and 8 hex digits (server/audit/auditKey.ts, restoredLogId). */
const RESTORED_SUFFIX = /(-r[0-9a-f]{8})+$/;

/**
 * The relay's first log, which every log a restore started after it descends from: the origin without its
 * restore suffixes. The key rotation statements of a relay's earlier logs hold for its later ones (the key
 * is the relay's, not the log's): a verifier accepts a statement for any log of the same family.
 */
export function logFamily(origin: string): string {
  return origin.replace(RESTORED_SUFFIX, '');
}

/**
 * The log a key rotation statement must name to hold for a bundle of `origin`: the one it names, when that
 * is a log of the same relay (an earlier log a restore ended), else `origin` itself (and it fails as "for
 * another log"). The statements of the earlier logs are what link a key from before a restore to one after.
 */
export function rotationOrigin(signed: unknown, origin: string): string {
  const statement = typeof signed === 'object' && signed !== null ? (signed as { statement?: unknown }).statement : undefined;
  const stated = typeof statement === 'string' ? /^origin: (\S{1,200})$/m.exec(statement)?.[1] : undefined;
  return stated !== undefined && logFamily(stated) === logFamily(origin) ? stated : origin;
}

/** The restore's own facts; the rest of the record's details follow from them. */
export interface RestoreFacts {
  readonly log: string;
  readonly backup: { readonly file: string; readonly createdAt: number; readonly records: number; readonly head: string | null };
  readonly previous: { readonly origin: string; readonly firstSeq: number; readonly checkpoint: RememberedCheckpoint | null };
  /** The log the data directory held, when it is not the backup's; its first record when known. */
  readonly replaced: { readonly origin: string; readonly checkpoint: RememberedCheckpoint | null; readonly firstSeq?: number | null } | null;
  /** The backup's tree of the previous log (root base64, consistency as CONSISTENCY_FORMAT). */
  readonly backupTree?: { readonly size: number; readonly root: string; readonly consistency: string };
  /** The records of the database the restore replaced that it discarded, and that database's last record's hash. */
  readonly discarded?: { readonly from: number; readonly to: number; readonly head: string | null } | null;
}

export interface RememberedCheckpoint {
  readonly size: number;
  /** Base64. */
  readonly root: string;
  readonly note: string;
}

/** The records of a log starting at `firstSeq` that a checkpoint of `size` covers and a backup of `backupRecords` lacks, or null. */
export function lostRange(backupRecords: number, firstSeq: number, size: number): { from: number; to: number } | null {
  const from = Math.max(backupRecords + 1, firstSeq);
  const to = firstSeq + size - 1;
  return to >= from ? { from, to } : null;
}

export function restoreDetails(facts: RestoreFacts): RestoreDetails {
  const last = facts.previous.checkpoint;
  const lost = last ? lostRange(facts.backup.records, facts.previous.firstSeq, last.size) : null;
  // A replaced log the backup does not continue is lost whole: every record its last checkpoint signed.
  const replaced = facts.replaced;
  const replacedLost = replaced?.checkpoint && replaced.firstSeq ? lostRange(0, replaced.firstSeq, replaced.checkpoint.size) : null;
  return {
    log: facts.log,
    backupFile: facts.backup.file,
    backupCreatedAt: facts.backup.createdAt,
    backupRecords: facts.backup.records,
    backupHead: facts.backup.head,
    previousLog: facts.previous.origin,
    previousFirstSeq: facts.previous.firstSeq,
    previousCheckpointSize: last?.size ?? null,
    previousCheckpointRoot: last?.root ?? null,
    previousCheckpoint: last?.note ?? null,
    lostFrom: lost?.from ?? null,
    lostTo: lost?.to ?? null,
    replacedLog: facts.replaced?.origin ?? null,
    replacedCheckpoint: facts.replaced?.checkpoint?.note ?? null,
    ...(facts.backupTree ? { backupSize: facts.backupTree.size, backupRoot: facts.backupTree.root, consistency: facts.backupTree.consistency } : {}),
    replacedLostFrom: replacedLost?.from ?? null,
    replacedLostTo: replacedLost?.to ?? null,
    discardedFrom: facts.discarded?.from ?? null,
    discardedTo: facts.discarded?.to ?? null,
    discardedHead: facts.discarded?.head ?? null,
  };
}

/**
 * The consistency proofs of a restore record: `<size>:<hash>,<hash>... <size>:...`, hashes base64 (an
 * audit record's details are flat). A size equal to the backup's has an empty proof.
 */
export function formatConsistency(proofs: ReadonlyMap<number, readonly Uint8Array[]>): string {
  return [...proofs].sort(([a], [b]) => a - b).map(([size, proof]) => `${size}:${proof.map(toBase64).join(',')}`).join(' ');
}

/** The proof from `size` in a restore record's consistency field, or null when it holds none (or a malformed one). */
export function consistencyFrom(text: string, size: number): Uint8Array[] | null {
  const entry = text.split(' ').find((e) => e.startsWith(`${size}:`));
  if (entry === undefined) return null;
  const hashes = entry.slice(`${size}:`.length).split(',').filter((h) => h !== '').map(fromBase64);
  return hashes.every((h): h is Uint8Array => h !== null && h.length === 32) ? hashes : null;
}

/** What the older bundle shows of the previous log. */
export interface PreviousBundleView {
  /** Its checkpoint (origin, size, root) and the signed note, as the bundle carries it. */
  readonly checkpoint: { readonly origin: string; readonly size: number; readonly root: Uint8Array };
  readonly note: string;
  /** The key that signed it (PEM). */
  readonly publicKeyPem: string;
  /** The seq of its log's first record (1, or where a restore started it). */
  readonly firstSeq: number;
  /** Its exported record of that seq, parsed, or null when it did not export it (a bundle may be too large to hold in memory: read on demand). */
  readonly recordAt: (seq: number) => ExportedRecord | null;
  /** The root of its tree's first `size` leaves (size ≤ its checkpoint's), from its tiles; null when it ships none (proof version 1). */
  readonly rootAt?: (size: number) => Uint8Array | null;
}

/** What the newer bundle shows of its log's start. */
export interface CurrentLogView {
  readonly origin: string;
  readonly firstSeq: number;
  /** The log's first record (its `log-start.jsonl`, checked as leaf 0 of the tree), or null when the log starts at record 1. */
  readonly logStart: ExportedRecord | null;
}

export interface RestoreLink {
  readonly failures: string[];
  readonly notes: string[];
  /** Set when the newer log was started by a restore from the previous one (whatever the checks found). */
  readonly restored: boolean;
}

const encoder = new TextEncoder();

/** How every note on a followed restore begins (the verdict's first line says the log continues after one). */
const RESTORED_NOTE = 'restored from a backup';
export const followsRestore = (notes: readonly string[]): boolean => notes.some((n) => n.startsWith(RESTORED_NOTE));

/**
 * Follows the newer bundle's log back to the older bundle's across a restore. A newer log that does not
 * start with a restore record naming the older bundle's log is "another log": that is the failure.
 */
export function followRestore(crypto: AuditCrypto, previous: PreviousBundleView, current: CurrentLogView): RestoreLink {
  const failures: string[] = [];
  const notes: string[] = [];
  const old = previous.checkpoint.origin;
  const start = current.logStart;
  const parsed = start && start.type === LOG_RESTORED ? RestoreDetailsSchema.safeParse(start.details) : null;
  const details = parsed?.success ? parsed.data : null;
  const asPrevious = details?.previousLog === old;
  const asReplaced = details?.replacedLog === old;
  if (!start || !details || (!asPrevious && !asReplaced)) {
    const why = start?.type === LOG_RESTORED && !details ? ' (its restore record is malformed)' : '';
    return { failures: [`the previous bundle is from another log (${old})${why}`], notes, restored: false };
  }
  if (start.seq !== current.firstSeq) failures.push(`the restore record is record ${start.seq}, but this log starts at record ${current.firstSeq}`);
  if (details.log !== current.origin) failures.push(`the restore record starts the log ${details.log}, not this bundle's (${current.origin})`);

  // The backup is a prefix of the chain: the restore record links to its last record...
  if (start.prevHash !== (details.backupHead ?? '0'.repeat(64))) failures.push(`the restore record does not link to the backup's last record (record ${details.backupRecords}): its prevHash is not the backup's head`);
  // ...which, where the older bundle holds it, is the previous log's record of that number; and the
  // backup's tree is the previous bundle's, or extends it (a replaced log is not the backup's: it is lost whole).
  const atBackupEnd = asPrevious && details.backupRecords > 0 ? previous.recordAt(details.backupRecords) : null;
  if (atBackupEnd && details.backupHead !== null && atBackupEnd.hash !== details.backupHead) {
    failures.push(`the backup the log was restored from is not a copy of the previous log: its record ${details.backupRecords} differs from the previous bundle's`);
  }
  const treeNotes: string[] = [];
  const treeFailures = asPrevious ? checkBackupTree(crypto, previous, details, treeNotes) : [];
  failures.push(...treeFailures);

  // The previous log's last checkpoint the relay remembers: signed by the previous bundle's key, or that very checkpoint.
  const named = asPrevious ? details.previousCheckpoint : details.replacedCheckpoint;
  let namedSize = 0;
  if (named !== null) {
    const note = parseCheckpoint(named);
    if (!note.ok) failures.push(`the restore record's last checkpoint of the previous log is not a checkpoint (${note.reason})`);
    else if (note.checkpoint.origin !== old) failures.push(`the restore record's last checkpoint of the previous log is for another log (${note.checkpoint.origin})`);
    else {
      const checkpoint = note.checkpoint;
      namedSize = checkpoint.size;
      const sameSize = checkpoint.size === previous.checkpoint.size;
      const sameRoot = toBase64(checkpoint.root) === toBase64(previous.checkpoint.root);
      if (sameSize && !sameRoot) failures.push(`the previous log signed two checkpoints of ${checkpoint.size} records with different roots (the one the restore record names, and the previous bundle's): the log contradicted itself`);
      else if (named !== previous.note && !(sameSize && sameRoot) && !signedBy(crypto, note.body, note.signatures, old, previous.publicKeyPem)) {
        notes.push(`the restore record names a last checkpoint of the previous log (${checkpoint.size} records) that the previous bundle's key did not sign (was the key rotated in between?): it was not checked`);
      }
    }
  }

  const lastSeq = previous.firstSeq + Math.max(previous.checkpoint.size, namedSize) - 1;
  // A replaced log is not the backup's: none of its records are in it.
  const lost = lostRange(asPrevious ? details.backupRecords : 0, previous.firstSeq, Math.max(previous.checkpoint.size, namedSize));
  const lostText = lost && (lost.from === lost.to ? `record ${lost.from} of the previous log was lost` : `records ${lost.from}..${lost.to} of the previous log were lost`);
  if (treeFailures.length > 0) notes.push(`${RESTORED_NOTE} that is not the previous log as it was signed: which of its records were lost or changed cannot be told from the bundles`);
  else if (!asPrevious) notes.push(`${RESTORED_NOTE}: ${lostText ?? 'no signed records of the previous log were lost'} (all of that log: the restore replaced it with a backup of another log, ${details.previousLog}, up to record ${details.backupRecords})`);
  else notes.push(lostText
    ? `${RESTORED_NOTE}: ${lostText} (the backup held records up to ${details.backupRecords}; the previous log had signed records up to ${lastSeq})`
    : `${RESTORED_NOTE} taken at the end of the previous log as it was signed (${details.backupRecords} records): no signed records were lost`);
  notes.push(...treeNotes);
  if (typeof details.discardedFrom === 'number' && typeof details.discardedTo === 'number') {
    const which = details.discardedFrom === details.discardedTo ? `record ${details.discardedFrom}` : `records ${details.discardedFrom}..${details.discardedTo}`;
    notes.push(`the restore discarded ${which} that the relay's database held then (its last record's hash ${details.discardedHead ?? 'unknown'}); of these, any that no checkpoint had signed are in no bundle`);
  }
  notes.push(`the log ${old} ended with that restore; this bundle's log ${current.origin} starts at record ${current.firstSeq} with the restore record (${new Date(start.at).toISOString()}, by ${String(start.actor)}, from ${details.backupFile} taken ${new Date(details.backupCreatedAt).toISOString()})`);
  return { failures, notes, restored: true };
}

const REWRITTEN = "the backup restored is not an extension of the previous bundle's log: records were rewritten before the restore";

/**
 * That the backup's tree (its size and root, in the restore record) extends the previous bundle's: by the
 * restore record's consistency proof from the bundle's size, or, for a bundle larger than the backup, by
 * the root of the bundle's own tree at the backup's size (from its tiles). Against a bundle with tiles, a
 * record without the tree fails; against one without (an earlier version's), it gets a note.
 */
function checkBackupTree(crypto: AuditCrypto, previous: PreviousBundleView, details: RestoreDetails, notes: string[]): string[] {
  const { backupSize, backupRoot } = details;
  if (backupSize === undefined || backupRoot === undefined) {
    // Every restore of a backup holding records writes the backup's tree: one without it was altered (a forger
    // strips it to turn the check into a note). A backup of an empty log has no tree to carry.
    if (details.backupRecords < details.previousFirstSeq) return [];
    if (!previous.rootAt) {
      notes.push("the restore record does not carry the backup's tree, and the previous bundle ships no tiles (an export of an earlier version): the backup's records could not be checked against it");
      return [];
    }
    return [`the restore record carries no tree of the backup's ${details.backupRecords - details.previousFirstSeq + 1} records of the previous log (backupSize, backupRoot): the restore cannot be checked against the previous bundle, and the relay writes them in every restore record, so this one was altered`];
  }
  const root = fromBase64(backupRoot);
  if (!root || root.length !== 32) return [`the restore record's backup root is not a hash (${backupRoot.slice(0, 60)})`];
  if (backupSize !== details.backupRecords - details.previousFirstSeq + 1) return [`the restore record's backup tree has ${backupSize} records, but the backup holds records ${details.previousFirstSeq}..${details.backupRecords} of the previous log`];
  if (details.previousFirstSeq !== previous.firstSeq) return [`the restore record says the previous log begins at record ${details.previousFirstSeq}, the previous bundle at record ${previous.firstSeq}`];
  const size = previous.checkpoint.size;
  if (size === 0) return [];
  if (size <= backupSize) {
    if (size === backupSize) return equal(root, previous.checkpoint.root) ? [] : [`${REWRITTEN} (the backup's ${backupSize} records do not give the previous bundle's root)`];
    const proof = consistencyFrom(details.consistency ?? '', size);
    if (!proof) return [`${REWRITTEN} (the restore record holds no consistency proof from the previous bundle's ${size} records: the relay did not remember signing that checkpoint)`];
    return verifyConsistency(crypto.sha256, size, backupSize, previous.checkpoint.root, root, proof) ? [] : [`${REWRITTEN} (the backup's tree of ${backupSize} records does not extend the previous bundle's ${size})`];
  }
  const prefix = previous.rootAt?.(backupSize) ?? null;
  if (!prefix) {
    notes.push(`the previous bundle ships no tiles (an export of an earlier version): whether its first ${backupSize} records are the backup's could not be checked`);
    return [];
  }
  return equal(prefix, root) ? [] : [`${REWRITTEN} (the previous bundle's first ${backupSize} records do not give the backup's root)`];
}

function signedBy(crypto: AuditCrypto, body: string, signatures: readonly { keyName: string; keyId: Uint8Array; signature: Uint8Array }[], origin: string, publicKeyPem: string): boolean {
  const raw = crypto.rawPublicKey(publicKeyPem);
  if (!raw) return false;
  const keyId = toBase64(noteKeyId(crypto.sha256, origin, raw));
  return signatures.some((s) => s.keyName === origin && toBase64(s.keyId) === keyId && crypto.verify(publicKeyPem, encoder.encode(body), s.signature));
}
