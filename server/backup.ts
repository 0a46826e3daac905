import { unzipSync, zipSync } from 'fflate';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE, RETIRED_KEYS_DIR } from './audit/auditKey';
import { systemClock } from './Clock';
import { ConfigurationError } from './RelayServer';
import type { RelayStore } from './storage/RelayStore';
import { DATABASE_FILE, SqliteRelayStore } from './storage/sqlite/SqliteRelayStore';

const Manifest = z.strictObject({ format: z.literal('rounds-relay-backup/1'), createdAt: z.number(), auditRecords: z.number().int(), auditHead: z.string().nullable() });
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
 * live database, which the running relay goes on writing.
 */
export async function backupRelay(store: RelayStore, dataDir: string, out: string): Promise<{ auditRecords: number }> {
  // Beside the output (not /tmp, often a small tmpfs): the copy is as large as the database.
  const work = mkdtempSync(join(dirname(out), '.rounds-backup-'));
  try {
    await store.backup(join(work, DATABASE_FILE));
    const copy = await chainOf(work);
    if (!copy.ok) throw new ConfigurationError(`the relay's audit log does not check out (${copy.reason ?? 'broken'}); run \`rounds-server audit check\``);
    const manifest: BackupManifest = { format: 'rounds-relay-backup/1', createdAt: Date.now(), auditRecords: copy.records, auditHead: copy.head };
    const files: Record<string, Uint8Array> = {
      [DATABASE_FILE]: readFileSync(join(work, DATABASE_FILE)),
      'manifest.json': Buffer.from(JSON.stringify(manifest)),
    };
    for (const name of [AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE]) if (existsSync(join(dataDir, name))) files[name] = readFileSync(join(dataDir, name));
    const retired = join(dataDir, RETIRED_KEYS_DIR);
    if (existsSync(retired)) for (const name of readdirSync(retired)) files[`${RETIRED_KEYS_DIR}/${name}`] = readFileSync(join(retired, name));
    writeFileSync(out, zipSync(files, { level: 6 }), { mode: 0o600 });
    chmodSync(out, 0o600);
    return { auditRecords: copy.records };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `rounds-server restore`: into an empty data directory (or over one with --force, the relay stopped). The
 * backup's database is checked first, beside the data directory: its audit chain must hold and match the
 * manifest exactly. Only then does it replace what is there, so a bad backup changes nothing.
 */
export async function restoreRelay(file: string, dataDir: string, force: boolean): Promise<BackupManifest> {
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
  const manifest = Manifest.safeParse(manifestJson);
  const database = entries[DATABASE_FILE];
  if (!manifest.success || !database) throw new ConfigurationError(`${file} is not a Rounds relay backup (manifest or database missing)`);
  if (existsSync(join(dataDir, DATABASE_FILE)) && !force) throw new ConfigurationError(`${dataDir} already holds a relay database; stop the relay and pass --force to replace it`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const stage = mkdtempSync(join(dataDir, '.restore-'));
  try {
    writeFileSync(join(stage, DATABASE_FILE), database, { mode: 0o600 });
    const copy = await chainOf(stage);
    if (!copy.ok) throw new ConfigurationError(`the backup's audit log does not check out (${copy.reason ?? 'broken'}); nothing was restored`);
    if (copy.records !== manifest.data.auditRecords || copy.head !== manifest.data.auditHead) {
      throw new ConfigurationError(`the backup's audit log is not the one its manifest describes (${copy.records} records, ${manifest.data.auditRecords} expected); nothing was restored`);
    }
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dataDir, `${DATABASE_FILE}${suffix}`), { force: true });
    renameSync(join(stage, DATABASE_FILE), join(dataDir, DATABASE_FILE));
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  // The data directory as it was backed up: its key and log id (none, if it had none). Retired public keys
  // already here stay, so a restored key that was retired since is recognised (see `isRetiredAuditKey`).
  for (const [name, mode] of [[AUDIT_KEY_FILE, 0o600], [AUDIT_LOG_ID_FILE, 0o644]] as const) {
    const bytes = entries[name];
    if (bytes) writeFileSync(join(dataDir, name), bytes, { mode });
    else rmSync(join(dataDir, name), { force: true });
  }
  for (const [name, bytes] of Object.entries(entries)) {
    const retired = RETIRED_KEY_ENTRY.exec(name)?.[1];
    if (!retired) continue;
    mkdirSync(join(dataDir, RETIRED_KEYS_DIR), { recursive: true, mode: 0o700 });
    writeFileSync(join(dataDir, RETIRED_KEYS_DIR, retired), bytes, { mode: 0o644 });
  }
  return manifest.data;
}
