import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  if (!/^[0-9a-z-]{1,64}$/.test(id)) throw new Error(`${path} does not hold a log id (expected 16 hex digits)`);
  return `rounds.relay/${id}`;
}

function fingerprintOf(publicKey: KeyObject): string {
  return createHash('sha256').update(Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url')).digest('hex');
}

/**
 * `rounds-server audit rotate-key`: a new org audit key replaces the current one at once (the running relay
 * reads the key for each export). `record` writes the rotation into the audit log before the new key takes
 * over; the old private key is destroyed, so it can sign nothing more, and its public half is kept in
 * audit-keys/ for checking the bundles it signed.
 */
export async function rotateAuditKey(dataDir: string, record: (retired: AuditKey, current: AuditKey) => Promise<void>): Promise<{ retired: AuditKey; current: AuditKey; retiredPublicKeyFile: string }> {
  const path = join(dataDir, AUDIT_KEY_FILE);
  if (!existsSync(path)) throw new Error(`${dataDir} has no audit key yet (the relay creates one at its first start)`);
  const retired = loadOrCreateAuditKey(dataDir);
  const next = `${path}.new`;
  writeFileSync(next, newPrivateKeyPem(), { mode: 0o600 });
  const current = auditKeyOf(readKey(next), retired.origin);
  mkdirSync(join(dataDir, RETIRED_KEYS_DIR), { recursive: true, mode: 0o700 });
  const retiredPublicKeyFile = join(dataDir, RETIRED_KEYS_DIR, `${retired.fingerprint}.pub.pem`);
  writeFileSync(retiredPublicKeyFile, retired.publicKeyPem, { mode: 0o644 });
  await record(retired, current);
  renameSync(next, path);
  return { retired, current, retiredPublicKeyFile };
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
