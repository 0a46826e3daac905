import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AuditSigner } from '../../shared/audit/bundle';

/** The org audit key: Ed25519, created at the relay's first start, kept (0600) in its data directory. */
export const AUDIT_KEY_FILE = 'audit-signing-key.pem';

/**
 * The relay log's name (`rounds.relay/<16 hex>`), kept beside the key. It names the log in every checkpoint and
 * stays the same when the key is rotated, so a bundle signed by a new key still proves it extends one signed
 * by the old. A relay that predates the file keeps the name it always had, from its first key's fingerprint.
 */
export const AUDIT_LOG_ID_FILE = 'audit-log-id';

export interface AuditKey extends AuditSigner {
  /** SHA-256 of the raw public key, hex: printed at start and by `audit key`, for the compliance officer to keep. */
  readonly fingerprint: string;
  /** The log's name in checkpoints (see AUDIT_LOG_ID_FILE). */
  readonly origin: string;
}

/** Where retired keys' public halves are kept (`<fingerprint>.pub.pem`), to check bundles they signed. */
export const RETIRED_KEYS_DIR = 'audit-keys';

const newPrivateKeyPem = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' });

// Secret boundary: the private key is read and written here only; never printed or logged.
function readKey(path: string): KeyObject {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path} is not a readable PEM private key (${(error as Error).message})`, { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is not an Ed25519 key`);
  return privateKey;
}

export function loadOrCreateAuditKey(dataDir: string): AuditKey {
  const path = join(dataDir, AUDIT_KEY_FILE);
  if (!existsSync(path)) writeFileSync(path, newPrivateKeyPem(), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  const privateKey = readKey(path);
  return auditKeyOf(privateKey, logOrigin(dataDir, privateKey));
}

/** For the running relay: the key is made now if there is none, and read again for each export (so a rotation applies at once). */
export function auditKeySource(dataDir: string): { current: AuditKey; read: () => AuditKey } {
  return { current: loadOrCreateAuditKey(dataDir), read: () => loadOrCreateAuditKey(dataDir) };
}

function logOrigin(dataDir: string, firstKey: KeyObject): string {
  const path = join(dataDir, AUDIT_LOG_ID_FILE);
  if (!existsSync(path)) writeFileSync(path, `${fingerprintOf(createPublicKey(firstKey)).slice(0, 16)}\n`, { mode: 0o644 });
  const id = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-z-]{1,64}$/.test(id)) throw new Error(`${path} does not hold a log id (lower-case letters, digits and dashes, at most 64)`);
  return `rounds.relay/${id}`;
}

function fingerprintOf(publicKey: KeyObject): string {
  return createHash('sha256').update(Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url')).digest('hex');
}

/** Writes a file and forces it, and its directory entry, to disk before returning. */
function writeDurably(path: string, data: string | Uint8Array, mode: number, flag: 'w' | 'wx' = 'w'): void {
  const fd = openSync(path, flag, mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDirectory(dirname(path));
}

function syncDirectory(dir: string): void {
  // Windows cannot open a directory to sync it; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whether the data directory's current audit key is one that was retired (a backup from before a rotation). */
export function isRetiredAuditKey(dataDir: string): boolean {
  return existsSync(join(dataDir, RETIRED_KEYS_DIR, `${loadOrCreateAuditKey(dataDir).fingerprint}.pub.pem`));
}

/**
 * `rounds-server audit rotate-key`: a new org audit key replaces the current one at once (the running relay
 * reads the key for each export). The new key is written and synced first (`.new`, created exclusively: a
 * second rotation at the same time, or one that was interrupted, is refused with a message), `record`
 * writes the rotation into the audit log, and only then does the new key take over by an atomic rename. The
 * old private key is destroyed, so it can sign nothing more; its public half is kept in audit-keys/ for
 * checking the bundles it signed.
 */
export async function rotateAuditKey(dataDir: string, record: (retired: AuditKey, current: AuditKey) => Promise<void>): Promise<{ retired: AuditKey; current: AuditKey; retiredPublicKeyFile: string }> {
  const path = join(dataDir, AUDIT_KEY_FILE);
  if (!existsSync(path)) throw new Error(`${dataDir} has no audit key yet (the relay creates one at its first start)`);
  const retired = loadOrCreateAuditKey(dataDir);
  const next = `${path}.new`;
  try {
    writeDurably(next, newPrivateKeyPem(), 0o600, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new Error(`${next} exists: another rotation is running, or one was interrupted (the audit log says which key it announced); remove the file and rotate again`, { cause: error });
  }
  try {
    const current = auditKeyOf(readKey(next), retired.origin);
    mkdirSync(join(dataDir, RETIRED_KEYS_DIR), { recursive: true, mode: 0o700 });
    const retiredPublicKeyFile = join(dataDir, RETIRED_KEYS_DIR, `${retired.fingerprint}.pub.pem`);
    writeDurably(retiredPublicKeyFile, retired.publicKeyPem, 0o644);
    await record(retired, current);
    renameSync(next, path);
    syncDirectory(dataDir);
    return { retired, current, retiredPublicKeyFile };
  } catch (error) {
    // Nothing was announced, or the announcement failed: the current key stays, and no stale .new is left.
    if (existsSync(next)) rmSync(next);
    throw error;
  }
}

function auditKeyOf(privateKey: KeyObject, origin: string): AuditKey {
  const publicKey = createPublicKey(privateKey);
  return {
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    fingerprint: fingerprintOf(publicKey),
    origin,
    sign: (data) => sign(null, data, privateKey),
  };
}
