import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RELAY_ORIGIN_PREFIX, type AuditSigner } from '../../shared/audit/bundle';
import { signKeyRotation, type SignedKeyRotation } from '../../shared/audit/keyRotation';
import { assertNoInterruptedRestore, assertOwnedByCaller } from '../DataDirectory';
import { syncDirectory, writeDurably } from '../durableFiles';
import { FileLock } from '../FileLock';
import { nodeAuditCrypto } from './auditCrypto';

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
  assertOwnedByCaller(dataDir);
  assertNoInterruptedRestore(dataDir);
  const path = join(dataDir, AUDIT_KEY_FILE);
  if (!existsSync(path)) writeDurably(path, newPrivateKeyPem(), 0o600, 'wx');
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
  if (!existsSync(path)) writeDurably(path, `${fingerprintOf(createPublicKey(firstKey)).slice(0, 16)}\n`, 0o644, 'wx');
  return readLogOrigin(path);
}

const LOG_ID = /^[0-9a-z-]{1,64}$/;

function readLogOrigin(path: string): string {
  const id = readFileSync(path, 'utf8').trim();
  if (!LOG_ID.test(id)) throw new Error(`${path} does not hold a log id (lower-case letters, digits and dashes, at most 64)`);
  return `${RELAY_ORIGIN_PREFIX}${id}`;
}

/**
 * The origin of the log a data directory (or a restore's staging) holds, without creating anything: its
 * log id file's, else the one its key would be given; null when it has neither, or they cannot be read.
 */
export function existingLogOrigin(dataDir: string): string | null {
  try {
    if (existsSync(join(dataDir, AUDIT_LOG_ID_FILE))) return readLogOrigin(join(dataDir, AUDIT_LOG_ID_FILE));
    const key = join(dataDir, AUDIT_KEY_FILE);
    return existsSync(key) ? `${RELAY_ORIGIN_PREFIX}${fingerprintOf(createPublicKey(readKey(key))).slice(0, 16)}` : null;
  } catch {
    return null;
  }
}

/**
 * The id of the log a restore starts after `previousOrigin`'s: the relay's first log id, `-r` and 8 random
 * hex digits (`3f2a…-r9c1d2e3f`), new each time: restoring the same backup twice starts two logs that must
 * never share a name, since each goes on differently from the backup.
 */
export function restoredLogId(previousOrigin: string): string {
  const previous = previousOrigin.startsWith(RELAY_ORIGIN_PREFIX) ? previousOrigin.slice(RELAY_ORIGIN_PREFIX.length) : '';
  const first = /^[0-9a-z]{1,40}/.exec(previous)?.[0] ?? 'relay';
  const id = `${first}-r${randomBytes(4).toString('hex')}`;
  if (!LOG_ID.test(id)) throw new Error(`not a log id: ${id}`);
  return id;
}

/** Writes a log id (a restore's, into its staging directory) in place of the one there. */
export function writeLogId(dir: string, id: string): string {
  if (!LOG_ID.test(id)) throw new Error(`not a log id: ${id}`);
  writeDurably(join(dir, AUDIT_LOG_ID_FILE), `${id}\n`, 0o644);
  return `${RELAY_ORIGIN_PREFIX}${id}`;
}

function fingerprintOf(publicKey: KeyObject): string {
  return createHash('sha256').update(Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url')).digest('hex');
}

/** A key's public identity: what audit-keys/ keeps of a retired key. */
export type PublicAuditKey = Pick<AuditKey, 'fingerprint' | 'publicKeyPem'>;

/** Whether the data directory knows `key` as retired (a backup from before a rotation would bring it back). */
export function isRetired(dataDir: string, key: PublicAuditKey): boolean {
  return existsSync(join(dataDir, RETIRED_KEYS_DIR, `${key.fingerprint}.pub.pem`));
}

/** Keeps a retired key's public half, to check the bundles it signed. */
export function keepRetiredPublicKey(dataDir: string, key: PublicAuditKey): string {
  mkdirSync(join(dataDir, RETIRED_KEYS_DIR), { recursive: true, mode: 0o700 });
  const path = join(dataDir, RETIRED_KEYS_DIR, `${key.fingerprint}.pub.pem`);
  writeDurably(path, key.publicKeyPem, 0o644);
  return path;
}

/** The public identity of the key file at `path` (a key about to be replaced, or a rotation's new one). */
function publicKeyOf(path: string): PublicAuditKey {
  const publicKey = createPublicKey(readKey(path));
  return { fingerprint: fingerprintOf(publicKey), publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

/** The key in place now, or null when there is none (read as it is: for a restore about to replace it). */
export function currentAuditKeyIfAny(dataDir: string): PublicAuditKey | null {
  const path = join(dataDir, AUDIT_KEY_FILE);
  return existsSync(path) ? publicKeyOf(path) : null;
}

/** A new audit key written beside the data directory's files (for a restore to put in place). */
export function newAuditKeyFile(path: string, origin: string): AuditKey {
  writeDurably(path, newPrivateKeyPem(), 0o600, 'wx');
  return auditKeyOf(readKey(path), origin);
}

/**
 * The outgoing key's signed statement that `current` replaces it in its log at `at`: made while its private
 * half still exists, kept in the log's `audit.key_rotated` record, and carried by every export, so that
 * `rounds-audit verify --previous` can follow the key from an older bundle to a newer one.
 */
export function signRotation(retired: AuditKey, current: Pick<AuditKey, 'publicKeyPem'>, at: number): SignedKeyRotation {
  return signKeyRotation(nodeAuditCrypto, { origin: retired.origin, at, retired, current });
}

/** The `audit.key_rotated` record's details: both fingerprints and the statement that proves the change. */
export function rotationDetails(retired: AuditKey, current: AuditKey, rotation: SignedKeyRotation): { retired: string; current: string; statement: string; signature: string } {
  return { retired: retired.fingerprint, current: current.fingerprint, statement: rotation.statement, signature: rotation.signature };
}

const NEXT_KEY_FILE = `${AUDIT_KEY_FILE}.new`;
const ROTATION_LOCK = 'audit-key.lock';

/** Holds the rotation lock: no rotation, nor the finishing of one, runs meanwhile (a restore takes it too). */
export function lockAuditKey(dataDir: string): FileLock | null {
  return FileLock.tryAcquire(join(dataDir, ROTATION_LOCK));
}

/**
 * Finishes a rotation that was cut off between announcing the new key in the audit log and putting it in
 * place (`announced`: the `current` of the log's last `audit.key_rotated`), or drops a new key that was
 * never announced. Says what it did, or null when there was nothing to do.
 */
export async function finishInterruptedRotation(dataDir: string, announced: () => Promise<string | null>): Promise<string | null> {
  if (!existsSync(join(dataDir, NEXT_KEY_FILE))) return null;
  // A rotation that holds the lock is not interrupted: it is running.
  const lock = lockAuditKey(dataDir);
  if (!lock) return null;
  try {
    return await finishLocked(dataDir, announced);
  } finally {
    lock.release();
  }
}

async function finishLocked(dataDir: string, announced: () => Promise<string | null>): Promise<string | null> {
  const next = join(dataDir, NEXT_KEY_FILE);
  if (!existsSync(next)) return null;
  let key: PublicAuditKey | null = null;
  try {
    key = publicKeyOf(next);
  } catch {
    // unreadable: a write cut short, never announced
  }
  if (key && key.fingerprint === (await announced())) {
    keepRetiredPublicKey(dataDir, loadOrCreateAuditKey(dataDir));
    renameSync(next, join(dataDir, AUDIT_KEY_FILE));
    syncDirectory(dataDir);
    return `finished the interrupted rotation to audit key ${key.fingerprint}`;
  }
  rmSync(next);
  return 'dropped a new audit key that an interrupted rotation never announced';
}

/**
 * `rounds-server audit rotate-key`: a new org audit key replaces the current one at once (the running relay
 * reads the key for each export). One rotation at a time (a lock). The new key is written and synced first,
 * `record` announces it in the audit log, and only then does it take over, by an atomic rename; a rotation
 * cut off after the announcement is finished by `finishInterruptedRotation` (at the next start or rotation).
 * As soon as the new key exists, the old key signs the rotation statement, which `record` writes with the
 * announcement. The old private key is then deleted, so it can sign nothing more; its public half is kept in
 * audit-keys/.
 */
export async function rotateAuditKey(dataDir: string, record: (retired: AuditKey, current: AuditKey, rotation: SignedKeyRotation) => Promise<void>, announced: () => Promise<string | null>, now: () => number = Date.now): Promise<{ retired: AuditKey; current: AuditKey; retiredPublicKeyFile: string; recovered: string | null; rotation: SignedKeyRotation }> {
  const path = join(dataDir, AUDIT_KEY_FILE);
  if (!existsSync(path)) throw new Error(`${dataDir} has no audit key yet (the relay creates one at its first start)`);
  const lock = lockAuditKey(dataDir);
  if (!lock) throw new Error('another audit key rotation (or a restore) is running; wait for it to finish');
  try {
    const recovered = await finishLocked(dataDir, announced);
    const retired = loadOrCreateAuditKey(dataDir);
    const next = join(dataDir, NEXT_KEY_FILE);
    let current: AuditKey;
    let rotation: SignedKeyRotation;
    try {
      current = newAuditKeyFile(next, retired.origin);
      rotation = signRotation(retired, current, now());
      await record(retired, current, rotation);
    } catch (error) {
      // Not announced: the current key stays, and no new key is left behind.
      rmSync(next, { force: true });
      throw error;
    }
    const retiredPublicKeyFile = keepRetiredPublicKey(dataDir, retired);
    renameSync(next, path);
    syncDirectory(dataDir);
    return { retired, current, retiredPublicKeyFile, recovered, rotation };
  } finally {
    lock.release();
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
