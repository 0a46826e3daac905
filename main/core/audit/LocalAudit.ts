import { zipSync } from 'fflate';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, hash, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildBundle, type AuditCrypto, type AuditSigner, type ExportedRecord } from '../../../shared/audit/bundle';
import type { AuditDirectory } from '../../../shared/audit/people';
import type { DeviceAddress } from '../../../shared/ids';
import type { LockReason } from '../lock/LockController';
import { AccountSecrets } from '../storage/AccountSecrets';
import type { SqlRunner } from '../storage/ProfileDatabase';

type Value = string | number | null;
/** What a message's records hold: ids, and a digest of the ciphertext (never the text). */
type MessageTraffic = { conversation: string; message: string; sender: string; recipients: string; ciphertextSha256: string | null };

/**
 * Every kind of event a workstation records in its local audit log, named `area.pastTense`, with what
 * each one's details hold: ids, counts and codes, never message text, names or secrets.
 */
export interface LocalAuditDetails {
  'session.unlocked': { keyProtection: string };
  'session.signedIn': { keyProtection: string };
  'session.locked': { reason: Extract<LockReason, 'manual' | 'quit'> };
  'session.autoLocked': { reason: Exclude<LockReason, 'manual' | 'quit'> };
  'session.signedOut': { reason: string };
  'session.unlockFailed': Record<string, never>;
  'profile.keySealed': { change: string };
  'passphrase.changed': { keyProtection: string };
  'passphrase.belowPolicy': { rules: string };
  'policy.loaded': Record<string, Value>;
  'audit.exported': { from: number; to: number; records: number; treeSize: number };
  'audit.relayExported': { from: number; to: number; user: string | null; bytes: number };
  'retention.deleted': { count: number; before: number; days: number };
  'message.sent': MessageTraffic;
  'message.received': MessageTraffic;
  'message.read': { conversation: string; messages: string };
  'message.rejected': Record<string, string>;
  'careTeam.changed': { conversation: string; epoch: string; members: string };
  'contact.identityAcknowledged': { user: string; devices: string };
  'contact.verified': { user: string; device: string };
  'contact.unverified': { user: string; device: string };
  /** Attachments (issue 20): size and sniffed type only, never a file name or content. */
  'attachment.sent': AttachmentTraffic;
  'attachment.fetched': AttachmentTraffic;
  'attachment.saved': AttachmentTraffic;
  /** A save to the place the user chose begins (before a byte is written); `attachment.saved` or `.saveFailed` follows. */
  'attachment.saveAttempted': AttachmentTraffic;
  /** Where it failed (`write`, `mark`: the OS mark could not be set, `move`) and the error code; the copy was deleted. */
  'attachment.saveFailed': AttachmentTraffic & { step: string; code: string };
  /** An image put on the clipboard. */
  'attachment.copied': AttachmentTraffic;
  /** Issue 19: this user acknowledged an urgent message (the signed statement's ids and signature). */
  'urgent.acknowledged': { conversation: string; message: string; sender: string; acknowledger: string; signature: string };
  /** A colleague's acknowledgement, its signature verified with the identity key held for their workstation. */
  'acknowledgement.received': { conversation: string; message: string; sender: string; acknowledger: string; signature: string };
  /** One refused (forged, replayed, about an unknown or non-urgent message, or by someone it did not go to): why. */
  'acknowledgement.refused': { message: string; acknowledger: string; from: string; reason: string };
  /** A colleague's forward-to the relay reported but this workstation did not act on (unsigned, or not their signature): whose, to whom, why. */
  'forwarding.refused': { user: string; to: string; reason: string };
}

/** An attachment in the local audit log: its message, its id, its size in bytes and its sniffed type. */
export interface AttachmentTraffic { message: string; attachment: string; size: number; type: string }
export type LocalAuditKind = keyof LocalAuditDetails;
export type LocalAuditEvent = { [K in LocalAuditKind]: { readonly type: K; readonly details: LocalAuditDetails[K] } }[LocalAuditKind];

const KINDS: Readonly<Record<LocalAuditKind, true>> = {
  'session.unlocked': true, 'session.signedIn': true, 'session.locked': true, 'session.autoLocked': true, 'session.signedOut': true,
  'session.unlockFailed': true, 'profile.keySealed': true, 'passphrase.changed': true, 'passphrase.belowPolicy': true, 'policy.loaded': true,
  'audit.exported': true, 'audit.relayExported': true, 'retention.deleted': true, 'message.sent': true, 'message.received': true,
  'message.read': true, 'message.rejected': true, 'careTeam.changed': true, 'contact.identityAcknowledged': true, 'contact.verified': true,
  'contact.unverified': true, 'attachment.sent': true, 'attachment.fetched': true, 'attachment.saved': true,
  'attachment.saveAttempted': true, 'attachment.saveFailed': true, 'attachment.copied': true,
  'urgent.acknowledged': true, 'acknowledgement.received': true, 'acknowledgement.refused': true, 'forwarding.refused': true,
};

/**
 * The names version 0.1 wrote before the kinds were named alike. Rows already stored keep them: the log is
 * append-only, and the hash chain and the checkpoints of earlier exports cover them as they were written.
 */
export const LEGACY_LOCAL_AUDIT_KINDS = {
  lock: 'session.locked',
  autoLock: 'session.autoLocked',
  unlock: 'session.unlocked',
  signIn: 'session.signedIn',
  signOut: 'session.signedOut',
  'unlock.failed': 'session.unlockFailed',
} as const satisfies Readonly<Record<string, LocalAuditKind>>;

/** The kind a stored row records, whichever version wrote it; undefined for a type no version writes. */
export function localAuditKind(stored: string): LocalAuditKind | undefined {
  if (Object.hasOwn(KINDS, stored)) return stored as LocalAuditKind;
  return Object.hasOwn(LEGACY_LOCAL_AUDIT_KINDS, stored) ? LEGACY_LOCAL_AUDIT_KINDS[stored as keyof typeof LEGACY_LOCAL_AUDIT_KINDS] : undefined;
}

/**
 * Appends a record to the profile's local audit log (inside the encrypted database); in the caller's
 * transaction when there is one, so the record and the change it describes are stored together.
 */
export function appendLocalAudit<K extends LocalAuditKind>(db: SqlRunner, at: number, type: K, details: LocalAuditDetails[K]): void {
  db.run('INSERT INTO local_audit (at, type, details) VALUES ($at, $type, $details)', { at, type, details: JSON.stringify(details) });
}

/** One stored record: `type` as it was written, `kind` what it means today. */
export interface LocalAuditRecord {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly kind: LocalAuditKind | undefined;
  readonly details: Readonly<Record<string, unknown>>;
}

/** The whole log, oldest first. */
export function readLocalAudit(db: SqlRunner): LocalAuditRecord[] {
  return db.all<{ seq: number; at: number; type: string; details: string }>('SELECT seq, at, type, details FROM local_audit ORDER BY seq')
    .map((r) => ({ seq: r.seq, at: r.at, type: r.type, kind: localAuditKind(r.type), details: JSON.parse(r.details) as Record<string, unknown> }));
}

/**
 * This device's local audit log as a signed bundle (the same format as the relay's, checked by the same
 * `rounds-audit verify`). The device signs with its own Ed25519 key, created at enrollment and kept in
 * the encrypted profile; its public half was given to the relay then, which wrote it into the relay's own
 * signed log (device.enrolled), so an auditor can tie this bundle to the device.
 */
export interface DeviceAuditKey extends AuditSigner {
  /** The raw 32-byte public key, base64 (as sent to the relay). */
  readonly publicKeyBase64: string;
}

/** Creates the device's audit key (at enrollment); returns the public half to register. */
export function createDeviceAuditKey(db: SqlRunner): DeviceAuditKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  new AccountSecrets(db).saveAuditSigningKey(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  return signerFor(privateKey);
}

/** The device's audit key (a profile enrolled before audit keys existed gets one now). */
export function deviceAuditKey(db: SqlRunner): DeviceAuditKey {
  const pem = new AccountSecrets(db).auditSigningKey();
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
  sha256Stream: () => createHash('sha256'),
  verify: (pem, data, signature) => verify(null, data, createPublicKey(pem), signature),
  rawPublicKey: (pem) => {
    const jwk = createPublicKey(pem).export({ format: 'jwk' });
    return jwk.crv === 'Ed25519' && jwk.x ? Buffer.from(jwk.x, 'base64url') : null;
  },
};

/** Who a workstation's bundle is of: the profile's account and this workstation, as the relay named them. */
export interface WorkstationIdentity {
  readonly username: string;
  readonly displayName: string;
  /** The account's role as the relay last said ('' when this profile does not know it). */
  readonly role: string;
  /** The name the workstation was enrolled with (`workstation <n>` for a profile enrolled before it was kept). */
  readonly deviceName: string;
}

/** This profile's account and workstation as the relay named them (kept in its secrets), with the profile's names where those lack one. */
export function workstationIdentity(db: SqlRunner, address: DeviceAddress, profile: { readonly username: string; readonly displayName: string }): WorkstationIdentity {
  const account = new AccountSecrets(db).account();
  return {
    username: profile.username,
    displayName: account?.displayName ?? profile.displayName,
    role: account?.role ?? '',
    deviceName: account?.deviceName ?? `workstation ${address.deviceId}`,
  };
}

/** The bundle's directory: the one person and the one workstation its records are of, and this machine's time zone. */
export function workstationDirectory(address: DeviceAddress, who: WorkstationIdentity, timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'): AuditDirectory {
  return {
    people: [{ userId: address.userId, username: who.username, displayName: who.displayName, role: who.role }],
    workstations: [{ userId: address.userId, deviceId: address.deviceId, name: who.deviceName }],
    timeZone,
  };
}

/**
 * Writes the local audit log of [from, to) as a signed .zip bundle to `path`, covering the whole log in
 * its checkpoint, with consistency proofs from this device's earlier exports, naming the user and the
 * workstation (`who`: names only, from the profile; never a secret). The export is audited.
 */
export function exportLocalAudit(db: SqlRunner, address: DeviceAddress, who: WorkstationIdentity, path: string, range: { from: number; to: number }, now: number): { path: string; records: number } {
  const log = readLocalAudit(db);
  // Exported as stored (old kinds' names included): the bundle's hash tree must match earlier exports'.
  const all: ExportedRecord[] = log.map((r) => ({ seq: r.seq, at: r.at, type: r.type, details: r.details }));
  const selected = all.filter((r) => r.at >= range.from && r.at < range.to);
  const earlierSizes = log.filter((r) => r.kind === 'audit.exported').map((r) => Number(r.details.treeSize)).filter(Number.isInteger);
  const files = buildBundle(clientCrypto, {
    origin: `rounds.client/${address.userId}.${address.deviceId}`,
    range: { ...range, user: null },
    all,
    selected,
    earlierSizes,
    signer: deviceAuditKey(db),
    title: 'Rounds workstation audit log',
    generatedAt: now,
    directory: workstationDirectory(address, who),
    workstation: { username: who.username, displayName: who.displayName, deviceName: who.deviceName },
  });
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, zipSync(Object.fromEntries(files), { level: 6 }), { mode: 0o600 });
  appendLocalAudit(db, now, 'audit.exported', { from: range.from, to: range.to, records: selected.length, treeSize: all.length });
  return { path, records: selected.length };
}
