import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { noteKeyId, parseCheckpoint, toBase64 } from '../../shared/audit/checkpoint';
import { equal } from '../../shared/audit/merkle';
import { nodeAuditCrypto } from './auditCrypto';
import { RETIRED_KEYS_DIR, currentAuditKeyIfAny } from './auditKey';
import { largest, signedCheckpoints, type SignedCheckpointEntry } from './signedCheckpoints';

/**
 * The checkpoints the relay remembers signing, believed only when they are what they say: the note parses,
 * names the entry's origin, size and root, and is signed for that origin by the relay's audit key or one it
 * retired. A line someone appended to the memory file by hand (an enormous size, to stop every export as a
 * "rollback") is ignored, and `audit check` reports it.
 */
export function trustedCheckpoints(dataDir: string, origin?: string): { trusted: SignedCheckpointEntry[]; untrusted: SignedCheckpointEntry[] } {
  const keys = relayPublicKeys(dataDir);
  const trusted: SignedCheckpointEntry[] = [];
  const untrusted: SignedCheckpointEntry[] = [];
  for (const entry of signedCheckpoints(dataDir, origin)) (signedByRelay(entry, keys) ? trusted : untrusted).push(entry);
  return { trusted, untrusted };
}

/** The largest trusted checkpoint of `origin`, or null. */
export function lastTrustedCheckpoint(dataDir: string, origin: string): SignedCheckpointEntry | null {
  return largest(trustedCheckpoints(dataDir, origin).trusted);
}

/** The public halves of the relay's audit keys: the current one and every one it retired. */
export function relayPublicKeys(dataDir: string): string[] {
  const current = currentAuditKeyIfAny(dataDir);
  const dir = join(dataDir, RETIRED_KEYS_DIR);
  const retired = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.pub.pem')).map((n) => readFileSync(join(dir, n), 'utf8')) : [];
  return [...(current ? [current.publicKeyPem] : []), ...retired];
}

/** Whether the entry's note is what it says (origin, size, root) and signed for its origin by one of `keys` (PEM). */
export function signedByRelay(entry: SignedCheckpointEntry, keys: readonly string[]): boolean {
  const note = parseCheckpoint(entry.note);
  if (!note.ok) return false;
  const { checkpoint } = note;
  if (checkpoint.origin !== entry.origin || checkpoint.size !== entry.size || toBase64(checkpoint.root) !== entry.root) return false;
  const body = new TextEncoder().encode(note.body);
  return keys.some((pem) => {
    const raw = nodeAuditCrypto.rawPublicKey(pem);
    if (!raw) return false;
    const keyId = noteKeyId(nodeAuditCrypto.sha256, entry.origin, raw);
    return note.signatures.some((s) => s.keyName === entry.origin && equal(s.keyId, keyId) && nodeAuditCrypto.verify(pem, body, s.signature));
  });
}
