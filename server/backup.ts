import { unzipSync, zipSync } from 'fflate';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE, RETIRED_KEYS_DIR } from './audit/auditKey';
import { ConfigurationError } from './RelayServer';
import type { RelayStore } from './storage/RelayStore';
import { DATABASE_FILE } from './storage/sqlite/SqliteRelayStore';

const Manifest = z.strictObject({ format: z.literal('rounds-relay-backup/1'), createdAt: z.number(), auditRecords: z.number().int(), auditHead: z.string().nullable() });

/**
 * `rounds-server backup`: a consistent online copy of the relay's database (queued envelopes, accounts,
 * the audit log) and its audit signing key, in one .zip (0600: it holds the key; keep it like one).
 */
export async function backupRelay(store: RelayStore, dataDir: string, out: string): Promise<{ auditRecords: number }> {
  const work = mkdtempSync(join(tmpdir(), 'rounds-backup-'));
  try {
    const copy = join(work, DATABASE_FILE);
    await store.backup(copy);
    const check = await store.checkAuditChain();
    const files: Record<string, Uint8Array> = {
      [DATABASE_FILE]: readFileSync(copy),
      'manifest.json': Buffer.from(JSON.stringify({ format: 'rounds-relay-backup/1', createdAt: Date.now(), auditRecords: check.records, auditHead: check.head ?? null })),
    };
    const key = join(dataDir, AUDIT_KEY_FILE);
    if (existsSync(key)) files[AUDIT_KEY_FILE] = readFileSync(key);
    const logId = join(dataDir, AUDIT_LOG_ID_FILE);
    if (existsSync(logId)) files[AUDIT_LOG_ID_FILE] = readFileSync(logId);
    const retired = join(dataDir, RETIRED_KEYS_DIR);
    if (existsSync(retired)) for (const name of readdirSync(retired)) files[`${RETIRED_KEYS_DIR}/${name}`] = readFileSync(join(retired, name));
    writeFileSync(out, zipSync(files, { level: 6 }), { mode: 0o600 });
    return { auditRecords: check.records };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `rounds-server restore`: into an empty data directory (or over one with --force). */
export function restoreRelay(file: string, dataDir: string, force: boolean): z.infer<typeof Manifest> {
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
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dataDir, `${DATABASE_FILE}${suffix}`), { force: true });
  writeFileSync(join(dataDir, DATABASE_FILE), database, { mode: 0o600 });
  const key = entries[AUDIT_KEY_FILE];
  if (key) writeFileSync(join(dataDir, AUDIT_KEY_FILE), key, { mode: 0o600 });
  const logId = entries[AUDIT_LOG_ID_FILE];
  // A backup from before the log id was kept: the id follows from the restored key again.
  if (logId) writeFileSync(join(dataDir, AUDIT_LOG_ID_FILE), logId, { mode: 0o644 });
  else rmSync(join(dataDir, AUDIT_LOG_ID_FILE), { force: true });
  for (const [name, bytes] of Object.entries(entries)) {
    const retired = name.startsWith(`${RETIRED_KEYS_DIR}/`) ? /^[0-9a-f]{64}\.pub\.pem$/.exec(name.slice(RETIRED_KEYS_DIR.length + 1))?.[0] : undefined;
    if (!retired) continue;
    mkdirSync(join(dataDir, RETIRED_KEYS_DIR), { recursive: true, mode: 0o700 });
    writeFileSync(join(dataDir, RETIRED_KEYS_DIR, retired), bytes, { mode: 0o644 });
  }
  return manifest.data;
}
