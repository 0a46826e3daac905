import { unzipSync, zipSync, type Zippable } from 'fflate';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE, RETIRED_KEYS_DIR, currentAuditKeyIfAny, existingLogOrigin, isRetired, loadOrCreateAuditKey, lockAuditKey, newAuditKeyFile, rotationDetails, signRotation, writeLogId } from './audit/auditKey';
import { backupTreeFacts, logTreeInMemory, requireSignedRoots } from './audit/backupTree';
import { markerText, newLogAfterRestore, rememberedCheckpoints, type LiveLog } from './audit/restoredLog';
import { relayPublicKeys } from './audit/trustedCheckpoints';
import { SIGNED_CHECKPOINTS_FILE, mergeSignedCheckpoints, parseSignedCheckpoints, type SignedCheckpointEntry } from './audit/signedCheckpoints';
import { systemClock } from './Clock';
import { backupNeeds, decryptBackup, encryptBackup, type BackupEncryption, type BackupSecrets } from './backupEncryption';
import { ConfigurationError } from './ConfigurationError';
import { databaseKeyLocation, readDatabaseKey, storeDatabaseKey } from './DatabaseKeyFile';
import { RESTORE_MARKER, RESTORE_STAGING_PREFIX, removeRestoreStaging } from './DataDirectory';
import { replaceDurably, syncDirectory, writeDurably } from './durableFiles';
import type { AuditLogStart, RelayStore } from './storage/RelayStore';
import { accountsIn, copyDatabase } from './storage/sqlite/DatabaseEncryption';
import { DatabaseKeyError, formatDatabaseKey, newDatabaseKey, parseDatabaseKey, sameDatabaseKey, type DatabaseKey } from './storage/sqlite/DatabaseKey';
import { DATABASE_FILE, SqliteRelayStore } from './storage/sqlite/SqliteRelayStore';
import type { AuditEvent, AuditRecord } from './audit/AuditRecord';

/**
 * Format 2 (this version): an age-encrypted zip whose database is SQLCipher-encrypted, with its key beside
 * it. Format 1 (before encryption at rest): a plain zip with a plaintext database; still restored.
 */
export const BACKUP_FORMAT = 'rounds-relay-backup/2';
export const LEGACY_BACKUP_FORMAT = 'rounds-relay-backup/1';
const Manifest = z.strictObject({ format: z.enum([LEGACY_BACKUP_FORMAT, BACKUP_FORMAT]), createdAt: z.number(), auditRecords: z.number().int(), auditHead: z.string().nullable(), auditChainBroken: z.string().optional() });
export type BackupManifest = z.infer<typeof Manifest>;
/** The backup's entry holding its database's key (hex), inside the encrypted file only. */
const DATABASE_KEY_ENTRY = 'database.key';

const RETIRED_KEY_ENTRY = new RegExp(`^${RETIRED_KEYS_DIR}/([0-9a-f]{64}\\.pub\\.pem)$`);

/** The audit chain of a database file on its own (a backup's copy), and the log its last records belong to, opened and closed again. */
async function chainOf(dir: string, key: DatabaseKey): Promise<{ records: number; head: string | null; ok: boolean; reason?: string; log: AuditLogStart }> {
  const store = new SqliteRelayStore(dir, systemClock, key);
  try {
    const check = await store.checkAuditChain();
    return { records: check.records, head: check.head ?? null, ok: check.ok, ...(check.reason ? { reason: check.reason } : {}), log: await store.auditLogStart() };
  } finally {
    await store.close();
  }
}

/** The log the data directory's database writes (read before a restore replaces it), or null: none, or it does not open with the kept key. */
async function liveLogOf(dataDir: string, key: DatabaseKey | null): Promise<LiveLog | null> {
  if (key === null || !existsSync(join(dataDir, DATABASE_FILE))) return null;
  try {
    const live = await chainOf(dataDir, key);
    const origin = live.log.origin ?? existingLogOrigin(dataDir);
    return origin === null ? null : { origin, firstSeq: live.log.firstSeq, lastSeq: live.records, head: live.head };
  } catch {
    return null;
  }
}

/**
 * The backup's tree of the log it continues, checked against every checkpoint of that log the relay
 * remembers signing (server/audit/backupTree.ts): refused when it departs from one; else its facts.
 */
async function checkedBackupTree(stage: string, key: DatabaseKey, log: { origin: string; firstSeq: number; lastSeq: number }, remembered: readonly SignedCheckpointEntry[]): Promise<{ size: number; root: string; consistency: string }> {
  const store = new SqliteRelayStore(stage, systemClock, key);
  try {
    const { tree } = await logTreeInMemory(store, log.firstSeq, log.lastSeq);
    const signed = remembered.filter((c) => c.origin === log.origin);
    requireSignedRoots(tree, log, signed);
    return backupTreeFacts(tree, signed);
  } finally {
    await store.close();
  }
}

/**
 * `rounds-server backup`: a consistent online copy of the relay's database (queued envelopes, accounts,
 * the audit log), the database's key, its audit signing key, log id and retired public keys, in one .zip,
 * encrypted with age to the given recipients or passphrase (and 0600). With the key inside, a backup opens
 * on a new machine; without the backup's identity or passphrase it opens nowhere. The manifest describes
 * the copy itself (its records and chain head), not the live database, which the running relay goes on
 * writing. A copy whose audit chain does not check out is still written (it is evidence), flagged in its
 * manifest; restore refuses it.
 */
export async function backupRelay(store: RelayStore, dataDir: string, out: string, options: { databaseKey: DatabaseKey; encryption: BackupEncryption }): Promise<{ auditRecords: number; chainOk: boolean; reason?: string }> {
  // Beside the output (not /tmp, often a small tmpfs): the copy is as large as the database. VACUUM INTO
  // writes it encrypted with the live database's key: no plaintext copy ever reaches the disk.
  const work = mkdtempSync(join(dirname(out), '.rounds-backup-'));
  try {
    await store.backup(join(work, DATABASE_FILE));
    const copy = await chainOf(work, options.databaseKey);
    const manifest: BackupManifest = { format: BACKUP_FORMAT, createdAt: Date.now(), auditRecords: copy.records, auditHead: copy.head, ...(copy.ok ? {} : { auditChainBroken: copy.reason ?? 'broken' }) };
    const files: Zippable = {
      // Encrypted pages do not compress: stored as they are.
      [DATABASE_FILE]: [readFileSync(join(work, DATABASE_FILE)), { level: 0 }],
      [DATABASE_KEY_ENTRY]: Buffer.from(formatDatabaseKey(options.databaseKey)),
      'manifest.json': Buffer.from(JSON.stringify(manifest)),
    };
    // With the checkpoints the relay remembers signing: a restore on a new machine learns them from it.
    for (const name of [AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE, SIGNED_CHECKPOINTS_FILE]) if (existsSync(join(dataDir, name))) files[name] = readFileSync(join(dataDir, name));
    const retired = join(dataDir, RETIRED_KEYS_DIR);
    if (existsSync(retired)) for (const name of readdirSync(retired)) files[`${RETIRED_KEYS_DIR}/${name}`] = readFileSync(join(retired, name));
    // Written beside the target and renamed over it: a backup cut short never looks like a whole one. The
    // zip (with both keys) exists in memory only; what reaches the disk is encrypted.
    replaceDurably(out, await encryptBackup(zipSync(files, { level: 6 }), options.encryption), 0o600);
    return { auditRecords: copy.records, chainOk: copy.ok, ...(copy.reason ? { reason: copy.reason } : {}) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface RestoreResult {
  readonly manifest: BackupManifest;
  /** The audit key now in place. */
  readonly fingerprint: string;
  /** Set when the backup's key had been retired (or `newKey` asked for one): it was replaced. */
  readonly replacedKey?: string;
  /** Where the restored database's key is kept, and whether this restore stored it there. */
  readonly databaseKey: { readonly describe: string; readonly stored: boolean };
  /** The log the restore started (its origin and first record) and the one it continues, with the records of that one the restore lost (those its last signed checkpoint covers and the backup lacks). */
  readonly log: {
    readonly origin: string; readonly firstSeq: number; readonly previous: string; readonly lost: SeqRange | null;
    /** The log the directory held when it was not the backup's, and its signed records (all lost). */
    readonly replaced: { readonly origin: string; readonly lost: SeqRange | null } | null;
    /** The records of the replaced database the restore discarded, signed or not. */
    readonly discarded: SeqRange | null;
  };
}

export interface SeqRange { readonly from: number; readonly to: number }
const range = (from: number | null | undefined, to: number | null | undefined): SeqRange | null => (typeof from === 'number' && typeof to === 'number' ? { from, to } : null);

export interface RestoreOptions {
  readonly force: boolean;
  readonly newKey: boolean;
  /**
   * Allow a backup this relay did not make (it does not carry the database key the directory keeps) to
   * replace a directory that holds accounts. Encryption to a recipient proves nothing about who wrote a
   * backup (the recipient is public): without this, such a backup is refused.
   */
  readonly otherRelay?: boolean;
  /** What opens an encrypted backup (its identity or passphrase). */
  readonly secrets: BackupSecrets;
  /** Where the data directory's database key is kept, when not in it (`--database-key-file`). */
  readonly databaseKeyFile?: string;
  /** Who restores (`admin:<os account>`), as the new log's first record names them. */
  readonly actor: string;
}

/**
 * The backup's zip: decrypted (after saying what it needs, if that was not given), or as it is for a
 * backup from before encryption (format 1). Nothing touches the data directory before this succeeds.
 */
async function openBackupFile(file: string, secrets: BackupSecrets): Promise<Uint8Array> {
  const bytes = readFileSync(file);
  const needs = backupNeeds(bytes);
  switch (needs.kind) {
    case 'passphrase':
    case 'identity':
      return decryptBackup(bytes, needs, secrets, file);
    case 'unencrypted-zip':
      return bytes;
    case 'unknown':
      throw new ConfigurationError(`${file} is not a Rounds relay backup (neither an age-encrypted file nor a zip)`);
    default:
      return needs satisfies never;
  }
}

/**
 * `rounds-server restore`: into an empty data directory (or over one with --force), with the relay
 * stopped (the caller holds the directory's claim). The backup is decrypted and authenticated first (a
 * wrong identity or passphrase, a damaged or altered file: nothing is touched). Everything is then
 * prepared beside the data directory: the backup's database, re-encrypted under the key the directory
 * keeps (or, where it keeps none yet, the backup's own key; a new one for a format-1 backup) and checked
 * (its audit chain holds and is the one its manifest describes), its audit key and log id, and, when that
 * key had been retired since (or `newKey`), a new key. The audit log goes on as a new log (a new log id),
 * whose first record (`audit.log_restored`) names the restore, the backup, the log it continues and that
 * log's last signed checkpoint (server/audit/restoredLog.ts); a key rotation follows it. A marker then guards
 * the few writes that put it all in place, so a restore cut off in between is redone, starting the same new
 * log, before anything uses the directory. The checkpoints the relay remembers signing are never rolled
 * back: the backup's copy only adds to them. A bad backup changes nothing.
 */
export async function restoreRelay(file: string, dataDir: string, options: RestoreOptions): Promise<RestoreResult> {
  if (!existsSync(file)) throw new ConfigurationError(`no backup at ${file}`);
  const zip = await openBackupFile(file, options.secrets);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (error) {
    throw new ConfigurationError(`${file} is not a Rounds relay backup (not a readable zip: ${(error as Error).message})`);
  }
  let manifestJson: unknown = null;
  try {
    manifestJson = JSON.parse(Buffer.from(entries['manifest.json'] ?? Buffer.from('null')).toString('utf8'));
  } catch {
    // reported below as a missing manifest
  }
  const parsed = Manifest.safeParse(manifestJson);
  const database = entries[DATABASE_FILE];
  if (!parsed.success || !database) throw new ConfigurationError(`${file} is not a Rounds relay backup (manifest or database missing)`);
  const manifest = parsed.data;
  const keyEntry = entries[DATABASE_KEY_ENTRY];
  if (manifest.format === BACKUP_FORMAT && !keyEntry) throw new ConfigurationError(`${file} is not a Rounds relay backup (its database key is missing)`);
  // The key the backup's database is encrypted with; none for a format-1 backup, whose database is plaintext.
  const backupKey = keyEntry ? parseDatabaseKey(Buffer.from(keyEntry).toString('utf8'), `${file}'s ${DATABASE_KEY_ENTRY}`) : null;
  const marker = join(dataDir, RESTORE_MARKER);
  if (existsSync(join(dataDir, DATABASE_FILE)) && !options.force && !existsSync(marker)) throw new ConfigurationError(`${dataDir} already holds a relay database; stop the relay and pass --force to replace it`);

  // Staging left by an earlier restore that was cut off goes first.
  removeRestoreStaging(dataDir);
  const keyLock = lockAuditKey(dataDir);
  if (!keyLock) throw new ConfigurationError('an audit key rotation is running on this directory; wait for it to finish');
  const stage = mkdtempSync(join(dataDir, RESTORE_STAGING_PREFIX));
  try {
    // The restored database gets the key this directory keeps, so that its key file (or credential) goes on
    // opening it; where there is none yet (a new machine), the backup's key, stored with the rest below.
    const keyLocation = databaseKeyLocation(dataDir, options.databaseKeyFile);
    const keptKey = readDatabaseKey(keyLocation);
    const databaseKey = keptKey ?? backupKey ?? newDatabaseKey();
    // As in the backup (encrypted; plaintext only for a format-1 backup, as plain as that file), then
    // copied under the key the directory will open it with.
    const fromBackup = join(stage, `${DATABASE_FILE}.from-backup`);
    writeDurably(fromBackup, database, 0o600);
    try {
      copyDatabase({ path: fromBackup, key: backupKey }, { path: join(stage, DATABASE_FILE), key: databaseKey });
    } catch (error) {
      const reason = error instanceof DatabaseKeyError ? 'it does not open with the key it carries' : (error as Error).message;
      throw new ConfigurationError(`the backup's database cannot be read (${reason}); nothing was restored`, { cause: error });
    } finally {
      rmSync(fromBackup, { force: true });
    }
    const copy = await chainOf(stage, databaseKey);
    if (!copy.ok) throw new ConfigurationError(`the backup's audit log does not check out (${copy.reason ?? 'broken'}); nothing was restored`);
    if (copy.records !== manifest.auditRecords || copy.head !== manifest.auditHead) {
      throw new ConfigurationError(`the backup's audit log is not the one its manifest describes (${copy.records} records, ${manifest.auditRecords} expected); nothing was restored`);
    }
    for (const name of [AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE]) {
      // A backup from before the relay's first start holds no key (nor log id): the directory's stay, as
      // the organisation's key (a new one would sign no rotation from it).
      const keepHere = !entries[AUDIT_KEY_FILE] && (name === AUDIT_KEY_FILE || !entries[AUDIT_LOG_ID_FILE]) && existsSync(join(dataDir, name));
      const bytes = entries[name] ?? (keepHere ? readFileSync(join(dataDir, name)) : undefined);
      if (bytes) writeDurably(join(stage, name), bytes, name === AUDIT_KEY_FILE ? 0o600 : 0o644);
    }
    // The staged directory reads like a data directory: its key, log id and the retired keys known here.
    const staged = loadOrCreateAuditKey(stage);
    // The log goes on as a new one (shared/audit/restoreLink.ts): the backup's log cannot, since the records
    // after the backup are gone and checkpoints of them may have been signed. Its id is written in place of
    // the backup's; the records of the backup keep their place in the hash chain.
    // A backup taken before the relay's first start holds no log id nor key: its records are the log this directory named.
    const previous = { origin: copy.log.origin ?? (entries[AUDIT_LOG_ID_FILE] || entries[AUDIT_KEY_FILE] ? staged.origin : existingLogOrigin(dataDir) ?? staged.origin), firstSeq: copy.log.firstSeq };
    const backupCheckpoints = entries[SIGNED_CHECKPOINTS_FILE];
    // Believed only when signed by a key of this relay (the directory's, the backup's and those it retired):
    // a line added to the memory by hand neither blocks the restore nor gets a proof.
    const relayKeys = [...relayPublicKeys(dataDir), staged.publicKeyPem, ...Object.keys(entries).filter((name) => RETIRED_KEY_ENTRY.test(name)).map((name) => Buffer.from(entries[name] ?? new Uint8Array()).toString('utf8'))];
    const signed = rememberedCheckpoints(dataDir, backupCheckpoints, relayKeys);
    const backupTree = await checkedBackupTree(stage, databaseKey, { ...previous, lastSeq: copy.records }, signed);
    const newLog = newLogAfterRestore({
      dataDir, file, previous, checkpoints: signed, backupTree,
      backup: { createdAt: manifest.createdAt, records: copy.records, head: copy.head },
      // What the database being replaced held: the restore record counts what it discards.
      live: await liveLogOf(dataDir, keptKey),
    });
    const origin = writeLogId(stage, newLog.logId);
    const retiredHere = isRetired(dataDir, staged);
    // Public halves to keep: the backup's retired keys, and every key this restore takes out of use.
    const toKeep = new Map<string, Uint8Array>();
    for (const [name, bytes] of Object.entries(entries)) {
      const retired = RETIRED_KEY_ENTRY.exec(name)?.[1];
      if (retired) toKeep.set(retired, bytes);
    }
    const live = currentAuditKeyIfAny(dataDir);
    // Encryption to the (public) recipient proves nothing about who wrote a backup; this relay's own backups
    // carry the database key the directory keeps, which nobody else knows (the log id, in every export, is
    // public). A relay that holds accounts is replaced by anything else only when told so. An empty or
    // unreadable directory (a new machine, a damaged disk: what restores are for) has nothing to protect.
    const accountsHere = existsSync(join(dataDir, DATABASE_FILE)) ? accountsIn(join(dataDir, DATABASE_FILE), keptKey) : 0;
    const ownBackup = sameDatabaseKey(backupKey, keptKey);
    if (accountsHere !== null && accountsHere > 0 && !ownBackup && options.otherRelay !== true) {
      const why = backupKey === null ? 'a backup from before encryption cannot show which relay made it' : 'it does not carry this relay\'s database key';
      throw new ConfigurationError(`this backup was not made by this relay (${why}): anyone who has the backup recipient can make a backup, so one that would replace a relay holding accounts is restored only with --other-relay, once you are sure where it comes from; nothing was restored`);
    }
    let replacedKey: string | undefined;
    let fingerprint = staged.fingerprint;
    let rotation: AuditEvent | null = null;
    if (retiredHere || options.newKey) {
      rmSync(join(stage, AUDIT_KEY_FILE));
      const fresh = newAuditKeyFile(join(stage, AUDIT_KEY_FILE), origin);
      // The staged key signs its replacement while its private half is still here (it is not restored), for
      // the new log: its bundles carry the statement, which links the backup's key to the new one.
      const signed = rotationDetails(staged, fresh, signRotation({ ...staged, origin }, fresh, Date.now()));
      rotation = { type: 'audit.key_rotated', actor: options.actor, subject: '', details: { ...signed, reason: retiredHere ? 'restored a retired key' : 'restore --new-key' } };
      toKeep.set(`${staged.fingerprint}.pub.pem`, Buffer.from(staged.publicKeyPem));
      replacedKey = staged.fingerprint;
      fingerprint = fresh.fingerprint;
    }
    if (live && live.fingerprint !== fingerprint) toKeep.set(`${live.fingerprint}.pub.pem`, Buffer.from(live.publicKeyPem));
    // The new log's first record names the restore; a key rotation it made follows, in the new log.
    const store = new SqliteRelayStore(stage, systemClock, databaseKey);
    let first: AuditRecord;
    try {
      first = await store.beginAuditLog(origin, { type: 'audit.log_restored', actor: options.actor, subject: '', details: newLog.details, flagged: true });
      if (rotation) await store.appendAudit([rotation]);
    } finally {
      await store.close();
    }

    // From here on the data directory changes: the marker makes a restore cut off here be run again, and
    // names the new log, so that the run that finishes it starts the same one.
    writeDurably(marker, markerText(newLog), 0o600);
    // The backup's memory of signed checkpoints joins this directory's (which is never rolled back).
    if (backupCheckpoints) mergeSignedCheckpoints(dataDir, parseSignedCheckpoints(backupCheckpoints));
    // The key first: a restore cut off after it finds it kept here when it is run again.
    if (!keptKey && !sameDatabaseKey(storeDatabaseKey(keyLocation.path, databaseKey), databaseKey)) {
      throw new ConfigurationError(`another command stored a database key at ${keyLocation.path} during the restore; run the restore again`);
    }
    if (toKeep.size > 0) mkdirSync(join(dataDir, RETIRED_KEYS_DIR), { recursive: true, mode: 0o700 });
    for (const [name, bytes] of toKeep) writeDurably(join(dataDir, RETIRED_KEYS_DIR, name), bytes, 0o644);
    for (const suffix of ['-wal', '-shm']) rmSync(join(dataDir, `${DATABASE_FILE}${suffix}`), { force: true });
    rmSync(join(dataDir, `${AUDIT_KEY_FILE}.new`), { force: true });
    for (const name of [DATABASE_FILE, AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE]) {
      if (existsSync(join(stage, name))) renameSync(join(stage, name), join(dataDir, name));
      else rmSync(join(dataDir, name), { force: true });
    }
    syncDirectory(dataDir);
    rmSync(marker);
    syncDirectory(dataDir);
    const { details } = newLog;
    const log = {
      origin, firstSeq: first.seq, previous: details.previousLog, lost: range(details.lostFrom, details.lostTo),
      replaced: details.replacedLog === null ? null : { origin: details.replacedLog, lost: range(details.replacedLostFrom, details.replacedLostTo) },
      discarded: range(details.discardedFrom, details.discardedTo),
    };
    return { manifest, fingerprint, ...(replacedKey ? { replacedKey } : {}), databaseKey: { describe: keyLocation.describe, stored: !keptKey }, log };
  } finally {
    rmSync(stage, { recursive: true, force: true });
    keyLock.release();
  }
}
