import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditSigner } from '../../shared/audit/bundle';

/** The org audit key: Ed25519, created at the relay's first start, kept (0600) in its data directory. */
export const AUDIT_KEY_FILE = 'audit-signing-key.pem';

export interface AuditKey extends AuditSigner {
  /** SHA-256 of the raw public key, hex: printed at start and by `audit key`, for the compliance officer to keep. */
  readonly fingerprint: string;
}

export function loadOrCreateAuditKey(dataDir: string): AuditKey {
  const path = join(dataDir, AUDIT_KEY_FILE);
  let privateKey: KeyObject;
  if (existsSync(path)) {
    privateKey = createPrivateKey(readFileSync(path, 'utf8'));
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is not an Ed25519 key`);
  } else {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(path, 0o600);
  const publicKey = createPublicKey(privateKey);
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  return {
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    fingerprint: createHash('sha256').update(raw).digest('hex'),
    sign: (data) => sign(null, data, privateKey),
  };
}
