import { unzipSync, zipSync } from 'fflate';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { AUDIT_KEY_FILE } from './audit/auditKey';
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
  const manifest = Manifest.safeParse(JSON.parse(Buffer.from(entries['manifest.json'] ?? Buffer.from('null')).toString('utf8')));
  const database = entries[DATABASE_FILE];
  if (!manifest.success || !database) throw new ConfigurationError(`${file} is not a Rounds relay backup (manifest or database missing)`);
  if (existsSync(join(dataDir, DATABASE_FILE)) && !force) throw new ConfigurationError(`${dataDir} already holds a relay database; stop the relay and pass --force to replace it`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dataDir, `${DATABASE_FILE}${suffix}`), { force: true });
  writeFileSync(join(dataDir, DATABASE_FILE), database, { mode: 0o600 });
  const key = entries[AUDIT_KEY_FILE];
  if (key) writeFileSync(join(dataDir, AUDIT_KEY_FILE), key, { mode: 0o600 });
  return manifest.data;
}
