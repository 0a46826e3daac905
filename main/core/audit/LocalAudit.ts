import { zipSync } from 'fflate';
import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildBundle, type AuditCrypto, type AuditSigner, type ExportedRecord } from '../../../shared/audit/bundle';
import type { DeviceAddress } from '../../../shared/ids';
import { appendLocalAudit } from '../storage/localAudit';
import type { SqlRunner } from '../storage/ProfileDatabase';

/**
 * This device's local audit log as a signed bundle (the same format as the relay's, checked by the same
 * `rounds-audit verify`). The device signs with its own Ed25519 key, created at enrollment and kept in
 * the encrypted profile; its public half was given to the relay then, which wrote it into the relay's own
 * signed log (device.enrolled), so an auditor can tie this bundle to the device.
 */
const KEY_SECRET = 'auditSigningKey';

export interface DeviceAuditKey extends AuditSigner {
  /** The raw 32-byte public key, base64 (as sent to the relay). */
  readonly publicKeyBase64: string;
}

/** Creates the device's audit key (at enrollment); returns the public half to register. */
export function createDeviceAuditKey(db: SqlRunner): DeviceAuditKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  db.run('INSERT INTO secrets (name, value) VALUES ($n, $v) ON CONFLICT (name) DO UPDATE SET value = excluded.value', { n: KEY_SECRET, v: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() });
  return signerFor(privateKey);
}

/** The device's audit key (a profile enrolled before audit keys existed gets one now). */
export function deviceAuditKey(db: SqlRunner): DeviceAuditKey {
  const pem = db.get<{ value: string }>('SELECT value FROM secrets WHERE name = $n', { n: KEY_SECRET })?.value;
  return pem ? signerFor(createPrivateKey(pem)) : createDeviceAuditKey(db);
}

function signerFor(privateKey: KeyObject): DeviceAuditKey {
  const publicKey = createPublicKey(privateKey);
  return {
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyBase64: Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString('base64'),
    sign: (data) => sign(null, data, privateKey),
  };
}

/** What building a bundle needs from Node: SHA-256, and the raw key inside a PEM. */
const clientCrypto: AuditCrypto = {
  sha256: (data) => hash('sha256', data, 'buffer'),
  verify: (pem, data, signature) => verify(null, data, createPublicKey(pem), signature),
  rawPublicKey: (pem) => {
    const jwk = createPublicKey(pem).export({ format: 'jwk' });
    return jwk.crv === 'Ed25519' && jwk.x ? Buffer.from(jwk.x, 'base64url') : null;
  },
};

interface LocalAuditRow { seq: number; at: number; type: string; details: string }

/**
 * Writes the local audit log of [from, to) as a signed .zip bundle to `path`, covering the whole log in
 * its checkpoint, with consistency proofs from this device's earlier exports. The export is audited.
 */
export function exportLocalAudit(db: SqlRunner, address: DeviceAddress, path: string, range: { from: number; to: number }, now: number): { path: string; records: number } {
  const all: ExportedRecord[] = db.all<LocalAuditRow>('SELECT seq, at, type, details FROM local_audit ORDER BY seq').map((r) => ({ seq: r.seq, at: r.at, type: r.type, details: JSON.parse(r.details) as unknown }));
  const selected = all.filter((r) => r.at >= range.from && r.at < range.to);
  const earlierSizes = all.filter((r) => r.type === 'audit.exported').map((r) => Number((r.details as { treeSize?: unknown }).treeSize)).filter(Number.isInteger);
  const files = buildBundle(clientCrypto, {
    origin: `rounds.client/${address.userId}.${address.deviceId}`,
    range: { ...range, user: null },
    all,
    selected,
    earlierSizes,
    signer: deviceAuditKey(db),
    title: 'Rounds workstation audit log',
    generatedAt: now,
  });
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, zipSync(Object.fromEntries(files), { level: 6 }), { mode: 0o600 });
  appendLocalAudit(db, now, 'audit.exported', { from: range.from, to: range.to, records: selected.length, treeSize: all.length });
  return { path, records: selected.length };
}
