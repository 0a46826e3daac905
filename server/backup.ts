import { unzipSync, zipSync } from 'fflate';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE, RETIRED_KEYS_DIR, currentAuditKeyIfAny, isRetired, loadOrCreateAuditKey, lockAuditKey, newAuditKeyFile } from './audit/auditKey';
import { systemClock } from './Clock';
import { ConfigurationError } from './ConfigurationError';
import { RESTORE_MARKER, RESTORE_STAGING_PREFIX, removeRestoreStaging } from './DataDirectory';
import { replaceDurably, syncDirectory, writeDurably } from './durableFiles';
import type { RelayStore } from './storage/RelayStore';
import { DATABASE_FILE, SqliteRelayStore } from './storage/sqlite/SqliteRelayStore';

const Manifest = z.strictObject({ format: z.literal('rounds-relay-backup/1'), createdAt: z.number(), auditRecords: z.number().int(), auditHead: z.string().nullable(), auditChainBroken: z.string().optional() });
export type BackupManifest = z.infer<typeof Manifest>;

const RETIRED_KEY_ENTRY = new RegExp(`^${RETIRED_KEYS_DIR}/([0-9a-f]{64}\\.pub\\.pem)$`);

/** The audit chain of a database file on its own (a backup's copy), opened and closed again. */
async function chainOf(dir: string): Promise<{ records: number; head: string | null; ok: boolean; reason?: string }> {
  const store = new SqliteRelayStore(dir, systemClock);
  try {
    const check = await store.checkAuditChain();
    return { records: check.records, head: check.head ?? null, ok: check.ok, ...(check.reason ? { reason: check.reason } : {}) };
  } finally {
    await store.close();
  }
}

/**
 * `rounds-server backup`: a consistent online copy of the relay's database (queued envelopes, accounts,
 * the audit log), its audit signing key, log id and retired public keys, in one .zip (0600: it holds the
 * key; keep it like one). The manifest describes the copy itself (its records and chain head), not the
 * live database, which the running relay goes on writing. A copy whose audit chain does not check out is
 * still written (it is evidence), flagged in its manifest; restore refuses it.
 */
export async function backupRelay(store: RelayStore, dataDir: string, out: string): Promise<{ auditRecords: number; chainOk: boolean; reason?: string }> {
  // Beside the output (not /tmp, often a small tmpfs): the copy is as large as the database.
  const work = mkdtempSync(join(dirname(out), '.rounds-backup-'));
  try {
    await store.backup(join(work, DATABASE_FILE));
    const copy = await chainOf(work);
    const manifest: BackupManifest = { format: 'rounds-relay-backup/1', createdAt: Date.now(), auditRecords: copy.records, auditHead: copy.head, ...(copy.ok ? {} : { auditChainBroken: copy.reason ?? 'broken' }) };
    const files: Record<string, Uint8Array> = {
      [DATABASE_FILE]: readFileSync(join(work, DATABASE_FILE)),
      'manifest.json': Buffer.from(JSON.stringify(manifest)),
    };
    for (const name of [AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE]) if (existsSync(join(dataDir, name))) files[name] = readFileSync(join(dataDir, name));
    const retired = join(dataDir, RETIRED_KEYS_DIR);
    if (existsSync(retired)) for (const name of readdirSync(retired)) files[`${RETIRED_KEYS_DIR}/${name}`] = readFileSync(join(retired, name));
    // Written beside the target and renamed over it: a backup cut short never looks like a whole one.
    replaceDurably(out, zipSync(files, { level: 6 }), 0o600);
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
}

/**
 * `rounds-server restore`: into an empty data directory (or over one with --force), with the relay
 * stopped (the caller holds the directory's claim). Everything is prepared beside the data directory
 * first: the backup's database, checked (its audit chain holds and is the one its manifest describes),
 * its key and log id, and, when that key had been retired since (or `newKey`), a new key, its rotation
 * written into the restored log. A marker then guards the few renames that put it all in place, so a
 * restore cut off in between is redone before anything uses the directory. A bad backup changes nothing.
 */
export async function restoreRelay(file: string, dataDir: string, options: { force: boolean; newKey: boolean }): Promise<RestoreResult> {
  if (!existsSync(file)) throw new ConfigurationError(`no backup at ${file}`);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(readFileSync(file));
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
  const marker = join(dataDir, RESTORE_MARKER);
  if (existsSync(join(dataDir, DATABASE_FILE)) && !options.force && !existsSync(marker)) throw new ConfigurationError(`${dataDir} already holds a relay database; stop the relay and pass --force to replace it`);

  // Staging left by an earlier restore that was cut off goes first.
  removeRestoreStaging(dataDir);
  const keyLock = lockAuditKey(dataDir);
  if (!keyLock) throw new ConfigurationError('an audit key rotation is running on this directory; wait for it to finish');
  const stage = mkdtempSync(join(dataDir, RESTORE_STAGING_PREFIX));
  try {
    writeDurably(join(stage, DATABASE_FILE), database, 0o600);
    const copy = await chainOf(stage);
    if (!copy.ok) throw new ConfigurationError(`the backup's audit log does not check out (${copy.reason ?? 'broken'}); nothing was restored`);
    if (copy.records !== manifest.auditRecords || copy.head !== manifest.auditHead) {
      throw new ConfigurationError(`the backup's audit log is not the one its manifest describes (${copy.records} records, ${manifest.auditRecords} expected); nothing was restored`);
    }
    for (const name of [AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE]) {
      const bytes = entries[name];
      if (bytes) writeDurably(join(stage, name), bytes, name === AUDIT_KEY_FILE ? 0o600 : 0o644);
    }
    // The staged directory reads like a data directory: its key, log id and the retired keys known here.
    const staged = loadOrCreateAuditKey(stage);
    const retiredHere = isRetired(dataDir, staged);
    // Public halves to keep: the backup's retired keys, and every key this restore takes out of use.
    const toKeep = new Map<string, Uint8Array>();
    for (const [name, bytes] of Object.entries(entries)) {
      const retired = RETIRED_KEY_ENTRY.exec(name)?.[1];
      if (retired) toKeep.set(retired, bytes);
    }
    const live = currentAuditKeyIfAny(dataDir);
    let replacedKey: string | undefined;
    let fingerprint = staged.fingerprint;
    if (retiredHere || options.newKey) {
      rmSync(join(stage, AUDIT_KEY_FILE));
      const fresh = newAuditKeyFile(join(stage, AUDIT_KEY_FILE), staged.origin);
      const store = new SqliteRelayStore(stage, systemClock);
      try {
        await store.appendAudit([{ type: 'audit.key_rotated', actor: 'admin', subject: '', details: { retired: staged.fingerprint, current: fresh.fingerprint, reason: retiredHere ? 'restored a retired key' : 'restore --new-key' } }]);
      } finally {
        await store.close();
      }
      toKeep.set(`${staged.fingerprint}.pub.pem`, Buffer.from(staged.publicKeyPem));
      replacedKey = staged.fingerprint;
      fingerprint = fresh.fingerprint;
    }
    if (live && live.fingerprint !== fingerprint) toKeep.set(`${live.fingerprint}.pub.pem`, Buffer.from(live.publicKeyPem));

    // From here on the data directory changes: the marker makes a restore cut off here be run again.
    writeDurably(marker, `${file}\n`, 0o600);
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
    return { manifest, fingerprint, ...(replacedKey ? { replacedKey } : {}) };
  } finally {
    rmSync(stage, { recursive: true, force: true });
    keyLock.release();
  }
}
