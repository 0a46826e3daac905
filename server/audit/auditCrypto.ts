import { createHash, createPublicKey, hash, verify, type KeyObject } from 'node:crypto';
import type { AuditCrypto } from '../../shared/audit/bundle';

/** The audit bundle's crypto on Node's own SHA-256 and Ed25519. */
export const nodeAuditCrypto: AuditCrypto = {
  sha256: (data) => hash('sha256', data, 'buffer'),
  sha256Stream: () => createHash('sha256'),
  sha256Text: (text) => hash('sha256', text, 'hex'),
  verify: (pem, data, signature) => {
    try {
      return verify(null, data, ed25519Key(pem), signature);
    } catch {
      return false;
    }
  },
  rawPublicKey: (pem) => {
    try {
      const jwk = ed25519Key(pem).export({ format: 'jwk' });
      return jwk.x ? Buffer.from(jwk.x, 'base64url') : null;
    } catch {
      return null;
    }
  },
};

function ed25519Key(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  return key;
}
