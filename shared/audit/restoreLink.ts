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
import { noteKeyId, parseCheckpoint, toBase64 } from './checkpoint';

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
  readonly replaced: { readonly origin: string; readonly checkpoint: RememberedCheckpoint | null } | null;
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
  };
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
  // ...which, where the older bundle holds it, is the previous log's record of that number.
  const atBackupEnd = details.backupRecords > 0 ? previous.recordAt(details.backupRecords) : null;
  if (atBackupEnd && details.backupHead !== null && atBackupEnd.hash !== details.backupHead) {
    failures.push(`the backup the log was restored from is not a copy of the previous log: its record ${details.backupRecords} differs from the previous bundle's`);
  }

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
  const lost = lostRange(details.backupRecords, previous.firstSeq, Math.max(previous.checkpoint.size, namedSize));
  notes.push(lost
    ? `${RESTORED_NOTE}: ${lost.from === lost.to ? `record ${lost.from} of the previous log was lost` : `records ${lost.from}..${lost.to} of the previous log were lost`} (the backup held records up to ${details.backupRecords}; the previous log had signed records up to ${lastSeq})`
    : `${RESTORED_NOTE} taken at the end of the previous log as it was signed (${details.backupRecords} records): no signed records were lost`);
  notes.push(`the log ${old} ended with that restore; this bundle's log ${current.origin} starts at record ${current.firstSeq} with the restore record (${new Date(start.at).toISOString()}, by ${String(start.actor)}, from ${details.backupFile} taken ${new Date(details.backupCreatedAt).toISOString()})`);
  return { failures, notes, restored: true };
}

function signedBy(crypto: AuditCrypto, body: string, signatures: readonly { keyName: string; keyId: Uint8Array; signature: Uint8Array }[], origin: string, publicKeyPem: string): boolean {
  const raw = crypto.rawPublicKey(publicKeyPem);
  if (!raw) return false;
  const keyId = toBase64(noteKeyId(crypto.sha256, origin, raw));
  return signatures.some((s) => s.keyName === origin && toBase64(s.keyId) === keyId && crypto.verify(publicKeyPem, encoder.encode(body), s.signature));
}
