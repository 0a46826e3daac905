/**
 * Signed tree heads in the C2SP tlog-checkpoint format (https://c2sp.org/tlog-checkpoint), as a signed
 * note (https://c2sp.org/signed-note) with an Ed25519 key:
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n[extension lines]\n\n— <key name> <base64(key id || signature)>\n
 *
 * The key id is the first 4 bytes of SHA-256(key name || "\n" || 0x01 || public key). Pure: hashing,
 * signing and verifying are passed in.
 */
import type { Hash } from './merkle';

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly extensions: readonly string[];
}

export interface NoteSignature {
  readonly keyName: string;
  /** 4 bytes. */
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
}

const DASH = '\u2014 ';
const encoder = new TextEncoder();

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** The byte strings one after another, in one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Lower-case hex, as fingerprints and sha256sum print digests. */
export function hex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX_PAIRS[bytes[i] as number] as string;
  return s;
}

/** The body that is signed: origin, size, root, extensions, each line ending in \n. */
export function checkpointBody(c: Checkpoint): string {
  for (const line of [c.origin, ...c.extensions]) if (line.length === 0 || line.includes('\n')) throw new Error('checkpoint lines must be non-empty single lines');
  return [c.origin, String(c.size), toBase64(c.root), ...c.extensions].map((l) => `${l}\n`).join('');
}

export function noteKeyId(hash: Hash, keyName: string, publicKey: Uint8Array): Uint8Array {
  const data = new Uint8Array([...encoder.encode(`${keyName}\n`), 0x01, ...publicKey]);
  return hash(data).slice(0, 4);
}

export function signCheckpoint(c: Checkpoint, keyName: string, keyId: Uint8Array, sign: (body: Uint8Array) => Uint8Array): string {
  const body = checkpointBody(c);
  const signature = sign(encoder.encode(body));
  return `${body}\n${DASH}${keyName} ${toBase64(new Uint8Array([...keyId, ...signature]))}\n`;
}

export type ParsedNote = { ok: true; checkpoint: Checkpoint; body: string; signatures: NoteSignature[] } | { ok: false; reason: string };

/** Parses a signed checkpoint note; every malformed input is a reason, never an exception. */
export function parseCheckpoint(text: string): ParsedNote {
  if (text.length > 1_000_000) return { ok: false, reason: 'checkpoint is too large' };
  const split = text.indexOf('\n\n');
  if (split < 0) return { ok: false, reason: 'checkpoint has no signature block' };
  const body = text.slice(0, split + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) return { ok: false, reason: 'checkpoint needs an origin, a tree size and a root hash' };
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!origin) return { ok: false, reason: 'checkpoint origin is empty' };
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeText)) return { ok: false, reason: 'checkpoint tree size is not a number' };
  const root = fromBase64(rootText);
  if (!root || root.length !== 32) return { ok: false, reason: 'checkpoint root hash is not 32 bytes of base64' };
  const signatures: NoteSignature[] = [];
  for (const line of text.slice(split + 2).split('\n')) {
    if (line === '') continue;
    if (!line.startsWith(DASH)) return { ok: false, reason: 'checkpoint signature line is malformed' };
    const rest = line.slice(DASH.length);
    const space = rest.lastIndexOf(' ');
    const bytes = space > 0 ? fromBase64(rest.slice(space + 1)) : null;
    if (!bytes || bytes.length < 5) return { ok: false, reason: 'checkpoint signature is not valid base64' };
    signatures.push({ keyName: rest.slice(0, space), keyId: bytes.slice(0, 4), signature: bytes.slice(4) });
  }
  if (signatures.length === 0) return { ok: false, reason: 'checkpoint is not signed' };
  return { ok: true, checkpoint: { origin, size: Number(sizeText), root, extensions }, body, signatures };
}
