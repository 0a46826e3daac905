/**
 * Signed audit key rotations. When the org audit key is replaced (`rounds-server audit rotate-key`, or a
 * restore that replaces a restored key), the outgoing key signs a statement naming the log, both keys and
 * the time, before its private half is destroyed:
 *
 *   rounds-audit-key-rotation/1
 *   origin: rounds.relay/3f2a9c0d1e2f3a4b
 *   time: 2026-11-01T12:00:00.000Z
 *   old-key: <fingerprint, 64 hex> <raw Ed25519 public key, base64>
 *   new-key: <fingerprint, 64 hex> <raw Ed25519 public key, base64>
 *
 * (each line ending in \n; the fingerprint is SHA-256 of the raw key, as `rounds-server audit key` prints
 * it). The signature is Ed25519 by the old key over those exact bytes. The relay keeps each statement in
 * its `audit.key_rotated` record, and every relay bundle carries all of them in `key-rotations.json`, so
 * `rounds-audit verify --previous` can follow the keys from an earlier bundle's to this one's, each step
 * signed by the key before it. A key that no such chain reaches is someone else's. Pure: crypto passed in.
 */
import type { AuditCrypto, AuditSigner } from './bundle';
import { fromBase64, hex, toBase64 } from './checkpoint';
import type { Hash } from './merkle';

/** The bundle file that carries the log's rotation statements (listed in SHA256SUMS). */
export const KEY_ROTATIONS_FILE = 'key-rotations.json';

export interface SignedKeyRotation {
  /** The statement's text, exactly as signed. */
  readonly statement: string;
  /** Ed25519 signature by the old key over the statement's UTF-8 bytes, base64. */
  readonly signature: string;
}

export interface KeyRotation {
  readonly origin: string;
  /** ISO 8601 UTC. */
  readonly time: string;
  readonly oldFingerprint: string;
  readonly newFingerprint: string;
}

const HEADER = 'rounds-audit-key-rotation/1';
const STATEMENT = /^rounds-audit-key-rotation\/1\norigin: ([^\s]{1,200})\ntime: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\nold-key: ([0-9a-f]{64}) ([A-Za-z0-9+/]{43}=)\nnew-key: ([0-9a-f]{64}) ([A-Za-z0-9+/]{43}=)\n$/;
const encoder = new TextEncoder();

/** SHA-256 of the raw 32-byte Ed25519 public key, hex: the fingerprint the relay prints. */
export function keyFingerprint(sha256: Hash, rawPublicKey: Uint8Array): string {
  return hex(sha256(rawPublicKey));
}

/** The PEM (SPKI) of a raw Ed25519 public key: the fixed DER prefix of RFC 8410, then the key. */
export function ed25519PublicKeyPem(rawPublicKey: Uint8Array): string {
  const der = new Uint8Array([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, ...rawPublicKey]);
  return `-----BEGIN PUBLIC KEY-----\n${toBase64(der)}\n-----END PUBLIC KEY-----\n`;
}

/** The outgoing key's statement that `current` replaces it in the log `origin` at `at` (ms since the epoch). */
export function signKeyRotation(crypto: AuditCrypto, input: { readonly origin: string; readonly at: number; readonly retired: AuditSigner; readonly current: { readonly publicKeyPem: string } }): SignedKeyRotation {
  const oldKey = crypto.rawPublicKey(input.retired.publicKeyPem);
  const newKey = crypto.rawPublicKey(input.current.publicKeyPem);
  if (!oldKey || !newKey) throw new Error('audit keys are Ed25519 keys');
  const statement = [
    HEADER,
    `origin: ${input.origin}`,
    `time: ${new Date(input.at).toISOString()}`,
    `old-key: ${keyFingerprint(crypto.sha256, oldKey)} ${toBase64(oldKey)}`,
    `new-key: ${keyFingerprint(crypto.sha256, newKey)} ${toBase64(newKey)}`,
  ].map((l) => `${l}\n`).join('');
  if (!STATEMENT.test(statement)) throw new Error('the rotation statement is not well formed (check the log origin)');
  return { statement, signature: toBase64(input.retired.sign(encoder.encode(statement))) };
}

/** A statement checked completely: its form, both fingerprints against their keys, the old key's signature, the log. */
export function readKeyRotation(crypto: AuditCrypto, signed: unknown, origin: string): { ok: true; rotation: KeyRotation } | { ok: false; reason: string } {
  const { statement, signature } = (signed ?? {}) as Partial<Record<keyof SignedKeyRotation, unknown>>;
  if (typeof statement !== 'string' || typeof signature !== 'string') return { ok: false, reason: 'is not a statement with its signature' };
  const [, stated, time, oldFingerprint, oldKeyText, newFingerprint, newKeyText] = STATEMENT.exec(statement) ?? [];
  if (!stated || !time || !oldFingerprint || !oldKeyText || !newFingerprint || !newKeyText) return { ok: false, reason: 'is not a well-formed rotation statement' };
  const oldKey = fromBase64(oldKeyText);
  const newKey = fromBase64(newKeyText);
  const sig = fromBase64(signature);
  if (!oldKey || oldKey.length !== 32 || !newKey || newKey.length !== 32) return { ok: false, reason: 'names a key that is not 32 bytes' };
  if (keyFingerprint(crypto.sha256, oldKey) !== oldFingerprint || keyFingerprint(crypto.sha256, newKey) !== newFingerprint) return { ok: false, reason: 'names a fingerprint that is not its key\'s' };
  if (!sig || !crypto.verify(ed25519PublicKeyPem(oldKey), encoder.encode(statement), sig)) return { ok: false, reason: `is not signed by the key it retires (${oldFingerprint})` };
  if (stated !== origin) return { ok: false, reason: `is for another log (${stated})` };
  return { ok: true, rotation: { origin: stated, time, oldFingerprint, newFingerprint } };
}

/** The rotations that lead from key `from` to key `to` (fingerprints), fewest first found; null if none do. */
export function rotationPath(rotations: readonly KeyRotation[], from: string, to: string): KeyRotation[] | null {
  const via = new Map<string, KeyRotation[]>([[from, []]]);
  const queue = [from];
  for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
    const path = via.get(key) ?? [];
    if (key === to) return path;
    for (const r of rotations) {
      if (r.oldFingerprint !== key || via.has(r.newFingerprint)) continue;
      via.set(r.newFingerprint, [...path, r]);
      queue.push(r.newFingerprint);
    }
  }
  return null;
}

/** key-rotations.json: every rotation statement of the log, oldest first. */
export function keyRotationsFile(rotations: readonly SignedKeyRotation[]): Uint8Array {
  return encoder.encode(`${JSON.stringify({ version: 1, rotations: rotations.map(({ statement, signature }) => ({ statement, signature })) }, null, 1)}\n`);
}

/** The statements in a key-rotations.json, unchecked; null when the file is not one. */
export function parseKeyRotationsFile(text: string): unknown[] | null {
  try {
    const file = JSON.parse(text) as { version?: unknown; rotations?: unknown };
    return file.version === 1 && Array.isArray(file.rotations) ? file.rotations : null;
  } catch {
    return null;
  }
}
