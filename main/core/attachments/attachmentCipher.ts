import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { RoundsError } from '../errors';

/*
 * How one attachment is encrypted (issue 20), before it leaves the workstation and as it is kept in the profile:
 * a fresh random 256-bit key per attachment, and AES-256-GCM over 64 KiB segments in the STREAM construction
 * (Hoang, Reyhanitabar, Rogaway, Vizár 2015; the layout of Tink's streaming AEAD): each segment's nonce is a
 * random 7-byte prefix, the segment's index (4 bytes) and a flag marking the last segment (1 byte). So a
 * segment cannot be moved, repeated, dropped or cut off at the end without its tag failing, and each segment is
 * checked on its own: the viewer decrypts only the segments it shows, an upload resumes from any segment (the
 * same key and prefix give the same bytes), and a tampered blob is refused at the first bad segment rather than
 * after 100 MiB. Signal's AES-CBC + HMAC-SHA256 authenticates only the whole file, in one pass. The SHA-256 of
 * the whole ciphertext (the digest in the message) binds the blob to the message as well.
 *
 *   blob = version (1 byte, 0x01) || prefix (7 bytes) || segment 0 || ... || segment n-1
 *   segment i = AES-256-GCM(key, nonce = prefix || uint32be(i) || last ? 0x01 : 0x00, plaintext[i]) || tag (16)
 *
 * Keys live only in the end-to-end payload and in the encrypted profile; never in logs or errors.
 */

export const SEGMENT_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const PREFIX_BYTES = 7;
const VERSION = 0x01;
export const HEADER_BYTES = 1 + PREFIX_BYTES;
export const KEY_BYTES = 32;

/** The attachment's bytes or its digest do not verify: refused, nothing shown. */
export class AttachmentTamperedError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('ATTACHMENT_TAMPERED', `attachment refused: ${reason}`, options);
  }
}

export function newAttachmentKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function segmentCount(plainSize: number): number {
  return Math.max(1, Math.ceil(plainSize / SEGMENT_BYTES));
}

/** Bytes of ciphertext for `plainSize` bytes of file. */
export function cipherSize(plainSize: number): number {
  return HEADER_BYTES + plainSize + segmentCount(plainSize) * TAG_BYTES;
}

/** The largest file whose ciphertext is at most `maxCipher` bytes. */
export function largestPlain(maxCipher: number): number {
  const body = Math.max(0, maxCipher - HEADER_BYTES);
  const whole = Math.floor(body / (SEGMENT_BYTES + TAG_BYTES));
  const rest = body - whole * (SEGMENT_BYTES + TAG_BYTES);
  return whole * SEGMENT_BYTES + Math.max(0, rest - TAG_BYTES);
}

/** Bytes of file a ciphertext of `size` bytes holds (throws when no plaintext size gives it). */
export function plainSize(size: number): number {
  const body = size - HEADER_BYTES;
  const segments = Math.max(1, Math.ceil(body / (SEGMENT_BYTES + TAG_BYTES)));
  const plain = body - segments * TAG_BYTES;
  if (body < TAG_BYTES || plain < 0 || cipherSize(plain) !== size) throw new AttachmentTamperedError('its size is not that of an encrypted attachment');
  return plain;
}

function nonce(prefix: Uint8Array, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.set(prefix, 0);
  n.writeUInt32BE(index, PREFIX_BYTES);
  n[11] = last ? 1 : 0;
  return n;
}

/** One pass of encryption: the ciphertext piece by piece, and its SHA-256 (base64) once every piece was taken. */
export interface AttachmentEncryption {
  /** The header, then each segment (with its tag), encrypted only as it is asked for. */
  readonly pieces: Iterable<Buffer>;
  /** The digest the message carries; throws until the last piece was taken. */
  digest(): string;
}

/**
 * Encrypts a file of `size` bytes read through `plaintext(start, end)`, one segment at a time: sending holds one
 * segment of ciphertext at once, never a second copy of the whole file (a 100 MiB scan costs 64 KiB here).
 */
export function encryptSegments(key: Uint8Array, plaintext: (start: number, end: number) => Uint8Array, size: number): AttachmentEncryption {
  if (key.length !== KEY_BYTES) throw new RoundsError('INTERNAL', 'an attachment key is 32 bytes');
  const hash = createHash('sha256');
  let digest: string | undefined;
  function* pieces(): Generator<Buffer, void, undefined> {
    const prefix = randomBytes(PREFIX_BYTES);
    const header = Buffer.concat([Buffer.of(VERSION), prefix]);
    hash.update(header);
    yield header;
    const segments = segmentCount(size);
    for (let i = 0; i < segments; i++) {
      const cipher = createCipheriv('aes-256-gcm', key, nonce(prefix, i, i === segments - 1));
      const segment = Buffer.concat([cipher.update(plaintext(i * SEGMENT_BYTES, Math.min(size, (i + 1) * SEGMENT_BYTES))), cipher.final(), cipher.getAuthTag()]);
      hash.update(segment);
      yield segment;
    }
    digest = hash.digest('base64');
  }
  return {
    pieces: { [Symbol.iterator]: pieces },
    digest: () => {
      if (digest === undefined) throw new RoundsError('INTERNAL', 'the attachment is not encrypted to its end yet');
      return digest;
    },
  };
}

/** Encrypts a whole file in memory; the result and its SHA-256 (base64), as the message carries it (tests, small files). */
export function encryptAttachment(key: Uint8Array, plaintext: Uint8Array): { ciphertext: Buffer; digest: string } {
  const encryption = encryptSegments(key, (start, end) => plaintext.subarray(start, end), plaintext.length);
  const ciphertext = Buffer.concat([...encryption.pieces]);
  return { ciphertext, digest: encryption.digest() };
}

/** Where segment `index` sits in the ciphertext, and how long it is. */
export function segmentSpan(index: number, size: number): { start: number; end: number } {
  const start = HEADER_BYTES + index * (SEGMENT_BYTES + TAG_BYTES);
  return { start, end: Math.min(size, start + SEGMENT_BYTES + TAG_BYTES) };
}

/**
 * Decrypts one segment (`segment`: its ciphertext and tag) of a blob whose first bytes are `header`. Throws
 * AttachmentTamperedError when its tag does not verify (a changed byte, a moved or cut-off segment, a wrong key).
 */
export function decryptSegment(key: Uint8Array, header: Uint8Array, index: number, last: boolean, segment: Uint8Array): Buffer {
  if (header[0] !== VERSION) throw new AttachmentTamperedError('unknown encryption version');
  if (segment.length < TAG_BYTES) throw new AttachmentTamperedError('a segment is cut short');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(header.subarray(1, HEADER_BYTES), index, last));
    decipher.setAuthTag(segment.subarray(segment.length - TAG_BYTES));
    return Buffer.concat([decipher.update(segment.subarray(0, segment.length - TAG_BYTES)), decipher.final()]);
  } catch (error) {
    throw new AttachmentTamperedError(`segment ${index} does not authenticate`, { cause: error });
  }
}

/** That `ciphertext` (the whole blob) has this SHA-256 (base64), and every segment authenticates under `key`. */
export function verifyAttachment(key: Uint8Array, digest: string, ciphertext: Uint8Array): void {
  if (createHash('sha256').update(ciphertext).digest('base64') !== digest) throw new AttachmentTamperedError('its digest does not match the message');
  const segments = segmentCount(plainSize(ciphertext.length));
  const header = ciphertext.subarray(0, HEADER_BYTES);
  for (let i = 0; i < segments; i++) {
    const { start, end } = segmentSpan(i, ciphertext.length);
    decryptSegment(key, header, i, i === segments - 1, ciphertext.subarray(start, end));
  }
}

/** The plaintext bytes [offset, offset + length) of a verified blob, decrypting only the segments they lie in. */
export function decryptRange(key: Uint8Array, ciphertext: (start: number, end: number) => Uint8Array, size: number, offset: number, length: number): Buffer {
  const plain = plainSize(size);
  const end = Math.min(plain, offset + length);
  if (offset >= end) return Buffer.alloc(0);
  const segments = segmentCount(plain);
  const header = ciphertext(0, HEADER_BYTES);
  const parts: Buffer[] = [];
  for (let i = Math.floor(offset / SEGMENT_BYTES); i * SEGMENT_BYTES < end; i++) {
    const span = segmentSpan(i, size);
    const clear = decryptSegment(key, header, i, i === segments - 1, ciphertext(span.start, span.end));
    const from = Math.max(0, offset - i * SEGMENT_BYTES);
    parts.push(clear.subarray(from, Math.min(clear.length, end - i * SEGMENT_BYTES)));
  }
  return Buffer.concat(parts);
}

/**
 * The plaintext of a verified blob, one segment (at most SEGMENT_BYTES) at a time, decrypted as it is asked for:
 * saving, scanning and copying hold one segment in memory, never the whole file. Throws AttachmentTamperedError at
 * the first segment that does not authenticate (the consumer deletes what it wrote).
 */
export function* decryptSegments(key: Uint8Array, ciphertext: (start: number, end: number) => Uint8Array, size: number): Generator<Buffer, void, undefined> {
  const segments = segmentCount(plainSize(size));
  const header = ciphertext(0, HEADER_BYTES);
  for (let i = 0; i < segments; i++) {
    const span = segmentSpan(i, size);
    yield decryptSegment(key, header, i, i === segments - 1, ciphertext(span.start, span.end));
  }
}
